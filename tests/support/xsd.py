"""qbXML validation for tests: Intuit's XSD when it is there, else the calling test is skipped."""
from __future__ import annotations

import pytest

from qbxml_templates import schema
from tests.support import NO_XSD, have_xsd


def validate(xml, **kw) -> list[str]:
    """``qbxml_templates.schema.validate``; skips the test (with the reason) when the XSD is absent."""
    if not have_xsd():
        pytest.skip(NO_XSD)
    return schema.validate(xml, **kw)
