"""The fakes: stand-ins for the systems qbedi talks to but that we cannot run here.

* :mod:`fakes.quickbooks` — :class:`QuickBooksEmulator`, an in-memory QuickBooks
  Desktop company answering qbXML 13.0 (XSD-validated, with error recovery and
  injectable faults).
* :mod:`fakes.qbwc_simulator` — :class:`QBWCSimulator`, the QuickBooks Web
  Connector: real SOAP envelopes over HTTP to our service, answered by a
  QuickBooks stand-in.
* :mod:`fakes.cleo` — :class:`CleoEmulator`, a local HTTP server for the slice
  of Cleo's REST API that :mod:`cleo_client.api` uses.

They are test doubles, shipped with the product only because ``qbedi demo``
runs on them. The dependency points one way: a fake may use the domain
packages (``edi``, ``qbxml_templates``), the core and an adapter's public
pieces, but product code (``edi``, ``qbxml_templates``, ``connector``,
``cleo_client``, ``qbwc_server``) never imports ``fakes``; only the entry
points above them do (:mod:`qbedi.demo`).
"""
from __future__ import annotations

import importlib
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from fakes.cleo import CleoEmulator
    from fakes.qbwc_simulator import QBWCSimulator
    from fakes.quickbooks import (
        FIXED_START, QuickBooksConnectionError, QuickBooksEmulator, QuickBooksError,
        QuickBooksParseError, SimClock,
    )

__all__ = ["CleoEmulator", "FIXED_START", "QBWCSimulator", "QuickBooksConnectionError",
           "QuickBooksEmulator", "QuickBooksError", "QuickBooksParseError", "SimClock"]

# Imported on first use, so that importing one fake does not load the others and
# ``python -m fakes.cleo`` runs without the package having imported it already.
_HOME = {"CleoEmulator": "fakes.cleo", "QBWCSimulator": "fakes.qbwc_simulator"}


def __getattr__(name: str):
    if name in __all__:
        return getattr(importlib.import_module(_HOME.get(name, "fakes.quickbooks")), name)
    raise AttributeError(f"module 'fakes' has no attribute {name!r}")
