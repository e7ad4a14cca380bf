"""Errors raised while building qbXML."""
from __future__ import annotations


class QbxmlValueError(ValueError):
    """A value cannot be represented in qbXML as QuickBooks would accept it.

    Raised for values longer than the XSD maximum, amounts with more precision
    than ``AMTTYPE`` allows, characters QuickBooks cannot store, and similar.
    We never truncate or round silently: the caller turns this into a hold.
    ``field`` names the element (e.g. ``"BillAdd/RefNumber"``).
    """

    def __init__(self, field: str, message: str, value: object = None):
        self.field = field
        self.value = value
        super().__init__(f"{field}: {message}")
