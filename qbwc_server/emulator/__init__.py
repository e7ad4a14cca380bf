"""QuickBooks Desktop emulator: an in-memory company answering qbXML 13.0."""
from .company import PurchaseOrderView, SimClock, TxnView
from .quickbooks import (
    QuickBooksConnectionError, QuickBooksEmulator, QuickBooksError, QuickBooksParseError,
    STATUS_TEXT,
)

__all__ = ["PurchaseOrderView", "QuickBooksConnectionError", "QuickBooksEmulator",
           "QuickBooksError", "QuickBooksParseError", "STATUS_TEXT", "SimClock", "TxnView"]
