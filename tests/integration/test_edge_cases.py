"""Edge cases found in review that the ingest service and the config decide, with a real database (those
that need a Web Connector session: tests/e2e/test_edge_cases.py)."""
import pytest
from sqlalchemy import select

from connector.settings import ConfigError, load_settings
from connector.store import Document
from tests.support.builders import ITEM_SUPPLIERS, runtime_for, write_config, x12_file

SUP = ITEM_SUPPLIERS


def make_rt(tmp_path, db_url, suppliers=None, **wc):
    return runtime_for(tmp_path, db_url, suppliers or SUP, **wc)


def ingest(rt, data, name):
    return rt.ingest.ingest(data, source="inbox", remote_id=name, name=name)


def test_a_resend_of_a_dismissed_invoice_is_not_posted(tmp_path, db_url):
    rt = make_rt(tmp_path, db_url, suppliers={"OTHER": {"vendor": "Other"}})
    ingest(rt, x12_file("acme_INV-10045.edi"), "a")  # unknown supplier: held
    with rt.store.session() as s:
        doc_id = s.scalars(select(Document.id)).one()
    rt.ingest.dismiss(doc_id, "entered by hand")
    rt2 = make_rt(tmp_path, db_url)  # the mapping is added later, and the supplier resends
    resent = x12_file("acme_INV-10045.edi").replace(b"000000101", b"000000777")
    out = ingest(rt2, resent, "b")
    assert out.documents[0].status == "held" and out.documents[0].translation.holds[0].code == "duplicate_document"


def test_stored_json_matches_the_held_status(tmp_path, db_url):
    rt = make_rt(tmp_path, db_url)
    ingest(rt, x12_file("acme_INV-10045.edi"), "a")
    ingest(rt, x12_file("acme_INV-10045.edi").replace(b"000000101", b"000000555"), "b")
    with rt.store.session() as s:
        held = s.scalars(select(Document).where(Document.status == "held")).one()
        assert held.parsed["status"] == "held" and held.parsed["holds"][0]["code"] == "duplicate_document"


def test_supplier_company_must_be_a_web_connector_user(tmp_path, db_url):
    path = write_config(tmp_path, db_url, suppliers={"ACMESUPPLY": {**SUP["ACMESUPPLY"], "company": "clrek"}})
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert "clrek" in str(exc.value) and "clerk" in str(exc.value)
