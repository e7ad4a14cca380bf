"""QuickBooks Desktop emulator: an in-memory company answering qbXML 13.0.

We can never run QuickBooks here; the demo and the end-to-end tests talk to
:class:`QuickBooksEmulator` with the same qbXML a real company file would get
(requests are validated against Intuit's XSD when it can be found; every
response validates against it too). Quick tour::

    qb = QuickBooksEmulator(company_file="C:\\Company.qbw")
    qb.add_terms("Net 30", 30); qb.add_vendor("Acme", terms="Net 30")
    qb.add_account("Freight"); qb.add_class("East"); qb.add_item("W-1", cost="4.50")
    po_id = qb.add_purchase_order("Acme", "PO-1", [("W-1", 10, "4.50")])
    xml_out = qb.process(xml_in)        # QuickBooksParseError / QuickBooksConnectionError
    qb.hcp_response()                   # strHCPResponse for the first sendRequestXML
    qb.bills, qb.find_bills(vendor="Acme", ref_number="INV-1"), qb.purchase_orders
    qb.inject(3175, "BillAdd", times=1); qb.inject_failure(after_processing=True)
    qb.closed = True; qb.concurrent_edit(list_id, "Vendor"); qb.cost_of(xml_in)

Fidelity notes and sources: see :mod:`fakes.quickbooks.emulator`.
"""
from .company import FIXED_START, PurchaseOrderView, SimClock, TxnView
from .emulator import (
    STATUS_TEXT, QuickBooksConnectionError, QuickBooksEmulator, QuickBooksError,
    QuickBooksParseError,
)

__all__ = ["FIXED_START", "PurchaseOrderView", "QuickBooksConnectionError", "QuickBooksEmulator",
           "QuickBooksError", "QuickBooksParseError", "STATUS_TEXT", "SimClock", "TxnView"]
