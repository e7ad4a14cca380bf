"""qbwc_server.compat on the running interpreter (in fresh interpreters of the other local venvs:
tests/integration/test_qbwc_compat_interpreters.py)."""
from __future__ import annotations

import sys

import pytest

from qbwc_server import compat


def test_ensure_idempotent_and_spyne_imports():
    first = list(compat.ensure())
    assert compat.ensure() == first  # second call changes nothing
    import spyne.interface.wsdl  # noqa: F401
    import spyne.protocol.soap  # noqa: F401
    import spyne.server.wsgi
    from spyne.util.six.moves.collections_abc import MutableSet
    from spyne.util.six.moves.http_cookies import SimpleCookie  # noqa: F401
    from spyne.util.six.moves.urllib.parse import quote, unquote

    assert unquote(quote("a b/c")) == "a b/c"
    import collections.abc

    assert MutableSet is collections.abc.MutableSet
    assert hasattr(spyne.server.wsgi.cgi, "parse_header")
    from spyne.util import six

    assert six.get_function_name(test_ensure_idempotent_and_spyne_imports) == "test_ensure_idempotent_and_spyne_imports"
    finders = [f for f in sys.meta_path if getattr(f, "qbedi_compat", False)]
    assert len(finders) == (1 if sys.version_info >= (3, 12) else 0)


def test_applied_matches_interpreter():
    if sys.version_info >= (3, 13):
        assert "cgi-parse_header-shim" in compat.applied
        assert "cgi" not in sys.modules or not getattr(sys.modules["cgi"], "__qbedi_shim__", False)
    if sys.version_info < (3, 12):
        assert compat.applied == []


@pytest.mark.parametrize(
    "line,expected",
    [
        ("text/xml; charset=utf-8", ("text/xml", {"charset": "utf-8"})),
        ('text/xml; charset="utf-8"', ("text/xml", {"charset": "utf-8"})),
        ('multipart/related; type="application/xop+xml"; boundary="a;b"; start="<x>"',
         ("multipart/related", {"type": "application/xop+xml", "boundary": "a;b", "start": "<x>"})),
        ("Text/XML;CHARSET=UTF-8", ("Text/XML", {"charset": "UTF-8"})),
        ('a; q="x\\"y"', ("a", {"q": 'x"y'})),
        ("", ("", {})),
        ("text/plain; novalue", ("text/plain", {})),
    ],
)
def test_parse_header(line, expected):
    assert compat.parse_header(line) == expected
    if sys.version_info < (3, 13):
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            import cgi
        assert cgi.parse_header(line) == expected  # same contract as the stdlib original
