"""schema.validate against the selftest documents and the XSD lookup rules."""
from __future__ import annotations

from pathlib import Path

import pytest

from qbxml_templates import schema
from qbxml_templates.schema import SchemaUnavailable, find_xsd_dir, qbxml_pi_version
from tests.support.xsd import validate  # the product's, or a skip when the XSD is absent


# Intuit's XSD for the product and the emulator when it is there; a test that validates against it
# (tests.support.xsd.validate) is skipped when it is not
pytestmark = pytest.mark.usefixtures("xsd_checks")


def _selftest(xsd_dir: Path, prefix: str):
    files = sorted((xsd_dir / "selftest").glob(f"{prefix}_*.xml"))
    assert files
    return files


def test_good_selftests_validate(xsd_dir):
    for f in _selftest(xsd_dir, "good"):
        assert validate(f.read_text()) == [], f.name
        assert validate(f.read_bytes()) == [], f.name


def test_bad_selftests_fail(xsd_dir):
    for f in _selftest(xsd_dir, "bad"):
        errs = validate(f.read_text())
        assert errs, f.name
    errs = validate((xsd_dir / "selftest" / "bad_BillAddRq_element_order.xml").read_text())
    assert any("TxnDate" in e for e in errs)
    errs = validate((xsd_dir / "selftest" / "bad_VendorQueryRq_missing_onError.xml").read_text())
    assert any("onError" in e for e in errs)


def test_missing_pi_reported(xsd_dir):
    text = (xsd_dir / "selftest" / "good_BillAddRq.xml").read_text()
    no_pi = text.replace('<?qbxml version="13.0"?>', "")
    errs = validate(no_pi)
    assert errs and "qbxml" in errs[0]


def test_pi_version():
    from lxml import etree
    tree = etree.ElementTree(etree.fromstring(b'<?qbxml version="13.0"?><QBXML/>'.split(b"?>", 1)[1]))
    assert qbxml_pi_version(tree) is None
    root = etree.fromstring(b'<QBXML/>')
    root.addprevious(etree.PI("qbxml", 'version="12.0"'))
    assert qbxml_pi_version(root.getroottree()) == (12, 0)


def test_not_well_formed():
    assert validate("<QBXML><QBXMLMsgsRq>")[0].startswith("not well-formed")


def test_env_var_wrong_dir(tmp_path, monkeypatch):
    monkeypatch.setenv("QBEDI_QBXML_XSD_DIR", str(tmp_path))
    with pytest.raises(SchemaUnavailable):
        find_xsd_dir()


def test_walk_up_from_cwd(xsd_dir, monkeypatch, tmp_path):
    from pathlib import Path

    beside = [d / "shared" / "reference" / "qbxml" for d in (Path.cwd(), *Path.cwd().parents)]
    if not any((d / "qbxml130.xsd").is_file() for d in beside):
        pytest.skip("the XSD comes from $QBEDI_SHARED here, not from a shared/ folder above the working directory")
    monkeypatch.delenv("QBEDI_QBXML_XSD_DIR")
    monkeypatch.delenv("QBEDI_SHARED", raising=False)
    assert find_xsd_dir().resolve() == xsd_dir.resolve()


def test_schema_cached(xsd_dir):
    assert schema.load_schema(xsd_dir) is schema.load_schema(xsd_dir)
