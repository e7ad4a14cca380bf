"""Make spyne 2.14.0 importable on Python 3.11 - 3.13.

Import this module before anything from ``spyne`` (``qbwc_server/__init__.py``
does it, so any ``import qbwc_server.<x>`` is enough). :func:`ensure` is
idempotent and does nothing where nothing is broken.

What is broken, exactly (checked against spyne 2.14.0 as installed):

1. **Python >= 3.12: ``spyne.util.six.moves``** (arskom/spyne#700, #708, #711).
   spyne vendors six 1.14.0, whose ``_SixMetaPathImporter`` only implements
   the PEP 302 ``find_module``/``load_module`` protocol. Python 3.12 removed
   the fallback to ``find_module`` on ``sys.meta_path`` entries, so every
   ``from spyne.util.six.moves.X import Y`` (oset.py, fileproxy.py, wsgi.py,
   ...) fails with ``No module named 'spyne.util.six.moves'``.

   Fix: a tiny PEP 451 finder in front of it that provides ``find_spec`` /
   ``create_module`` / ``exec_module`` and delegates to the vendored
   importer's ``load_module`` - the same three methods six 1.16 added
   upstream for this very reason. The vendored six itself is kept: replacing it with a
   newer six (the workaround in #711) drops ``six.get_function_name``, which
   spyne calls in descriptor.py, application.py and interface/_base.py.

2. **Python >= 3.13: ``cgi`` removed (PEP 594).** spyne does ``import cgi``
   at module level in ``spyne/server/wsgi.py`` and
   ``spyne/protocol/soap/soap11.py`` and only ever calls
   ``cgi.parse_header`` there (``spyne/server/twisted/http.py`` also uses
   ``cgi.FieldStorage``; we do not use the Twisted transport and do not
   provide it). We register a minimal module that provides ``parse_header``
   only, *while importing those two spyne modules*, and then take it out of
   ``sys.modules`` again so that unrelated code doing
   ``try: import cgi except ImportError`` keeps seeing the truth. The spyne
   modules keep their reference to the shim.
"""
from __future__ import annotations

import importlib
import importlib.util
import sys
import types

__all__ = ["ensure", "parse_header", "applied"]

#: what ensure() changed in this process, for logs / tests
applied: list[str] = []
_done = False


# --------------------------------------------------------------------------- cgi
def _split_params(s: str):
    """Yield ';'-separated pieces of a header value, honouring double quotes."""
    while s[:1] == ";":
        s = s[1:]
        end = s.find(";")
        while end > 0 and (s.count('"', 0, end) - s.count('\\"', 0, end)) % 2:
            end = s.find(";", end + 1)
        if end < 0:
            end = len(s)
        piece = s[:end]
        yield piece.strip()
        s = s[end:]


def parse_header(line: str) -> tuple[str, dict[str, str]]:
    """Same contract as the removed ``cgi.parse_header``.

    ``'text/xml; charset="utf-8"'`` -> ``('text/xml', {'charset': 'utf-8'})``:
    main value stripped (case kept), parameter names lower-cased, surrounding
    double quotes removed and ``\\\\`` / ``\\"`` unescaped inside them.
    """
    parts = _split_params(";" + (line or ""))
    key = next(parts)
    params: dict[str, str] = {}
    for p in parts:
        i = p.find("=")
        if i < 0:
            continue
        name = p[:i].strip().lower()
        value = p[i + 1 :].strip()
        if len(value) >= 2 and value[0] == value[-1] == '"':
            value = value[1:-1].replace("\\\\", "\\").replace('\\"', '"')
        params[name] = value
    return key, params


def _make_cgi_shim() -> types.ModuleType:
    mod = types.ModuleType("cgi", "qbedi shim for the removed stdlib cgi module (parse_header only)")
    mod.parse_header = parse_header  # type: ignore[attr-defined]
    mod.__qbedi_shim__ = True  # type: ignore[attr-defined]
    return mod


# --------------------------------------------------------------------------- six
class _SpyneSixMovesFinder:
    """PEP 451 front for spyne's vendored six 1.14 ``_SixMetaPathImporter``.

    Sits on ``sys.meta_path`` and answers ``find_spec`` for the names that
    importer knows (``spyne.util.six.moves...``), delegating the actual
    loading to its ``load_module`` - exactly what six 1.16 added upstream
    (``find_spec``/``create_module``/``exec_module``). Done as a separate
    finder so nothing has to import spyne before it is installed (importing
    ``spyne.util.six`` runs ``spyne/__init__``, which is what fails).
    """

    qbedi_compat = True

    @staticmethod
    def _importer():
        six = sys.modules.get("spyne.util.six")
        return getattr(six, "_importer", None)

    def find_spec(self, fullname, path=None, target=None):
        if not fullname.startswith("spyne.util.six.moves"):
            return None
        imp = self._importer()
        if imp is None or fullname not in imp.known_modules:
            return None
        from importlib.util import spec_from_loader

        return spec_from_loader(fullname, self, is_package=imp.is_package(fullname))

    def create_module(self, spec):
        return self._importer().load_module(spec.name)

    def exec_module(self, module):
        pass


def _install_six_finder() -> bool:
    if any(getattr(f, "qbedi_compat", False) for f in sys.meta_path):
        return False
    sys.meta_path.insert(0, _SpyneSixMovesFinder())
    return True


def ensure() -> list[str]:
    """Apply whatever is needed on this interpreter; return what was applied."""
    global _done
    if _done:
        return applied
    if sys.version_info >= (3, 12):
        if _install_six_finder():
            applied.append("spyne-six-moves-finder")
    if importlib.util.find_spec("cgi") is None:
        shim = _make_cgi_shim()
        sys.modules["cgi"] = shim
        try:
            importlib.import_module("spyne.protocol.soap.soap11")
            importlib.import_module("spyne.server.wsgi")
        finally:
            if sys.modules.get("cgi") is shim:
                del sys.modules["cgi"]
        applied.append("cgi-parse_header-shim")
    _done = True
    return applied


ensure()
