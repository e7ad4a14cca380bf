"""qbXML 13.0 building blocks: request builders, message sets, response parsing,
XSD validation. Elements are built with lxml, never by string concatenation."""
from .builders import (
    account_query, bill_add, bill_query, class_query, host_company_preferences, item_query,
    item_receipt_add, item_receipt_query, message_set, purchase_order_add, purchase_order_mod,
    purchase_order_query, terms_query, vendor_add, vendor_credit_add, vendor_credit_query,
    vendor_mod, vendor_query,
)
from .errors import QbxmlValueError
from .parts import bill_add_part, bill_lines, bill_mod_part, link_item_lines, splittable
from .responses import (
    MessageSetStatus, QbxmlParseError, ResponseItem, message_set_status, parse_response,
)
from .schema import SchemaUnavailable, validate
from .specs import (
    BillSpec, ExpenseLine, ItemLine, ItemReceiptSpec, PurchaseOrderLineSpec, PurchaseOrderSpec,
)

__all__ = [
    "BillSpec", "ExpenseLine", "ItemLine", "ItemReceiptSpec", "MessageSetStatus",
    "PurchaseOrderLineSpec", "PurchaseOrderSpec", "QbxmlParseError", "QbxmlValueError",
    "ResponseItem", "SchemaUnavailable", "account_query", "bill_add", "bill_add_part", "bill_lines",
    "bill_mod_part", "bill_query",
    "class_query", "host_company_preferences", "item_query", "item_receipt_add",
    "item_receipt_query", "link_item_lines", "message_set", "message_set_status", "parse_response",
    "purchase_order_add", "purchase_order_mod", "purchase_order_query", "splittable", "terms_query",
    "validate", "vendor_add", "vendor_credit_add", "vendor_credit_query", "vendor_mod",
    "vendor_query",
]
