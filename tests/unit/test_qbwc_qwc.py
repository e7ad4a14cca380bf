from __future__ import annotations

import re

import pytest
from lxml import etree

from qbwc_server.qwc import QBEDI_OWNER_ID, QwcError, build_qwc, file_id_for, guid

GUID_RE = re.compile(r"^\{[0-9A-F]{8}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{4}-[0-9A-F]{12}\}$")
BASE = dict(app_name="qbedi", app_url="https://qb.example.com/qbwc", support_url="https://qb.example.com/support",
            username="clerk")


def parse(text: str):
    return etree.fromstring(text.encode("utf-8"))


def test_required_elements_like_intuit_samples(qbwc_ref_dir):
    root = parse(build_qwc(**BASE, company_file=r"C:\QB\Widgets.qbw", run_every_minutes=10))
    sample = etree.parse(str(qbwc_ref_dir / "qwc" / "HTTPSWebService.qwc")).getroot()
    assert root.tag == sample.tag == "QBWCXML"
    assert {c.tag for c in sample} <= {c.tag for c in root}
    assert root.findtext("AppURL") == BASE["app_url"] and root.findtext("UserName") == "clerk"
    assert root.findtext("QBType") == "QBFS" and root.findtext("Style") == "Document"
    assert root.findtext("AuthFlags") == "0xF" and root.findtext("IsReadOnly") == "false"
    assert root.findtext("Scheduler/RunEveryNMinutes") == "10"
    assert root.findtext("OwnerID") == QBEDI_OWNER_ID
    for tag in ("OwnerID", "FileID"):
        assert GUID_RE.match(root.findtext(tag))
    assert root.findtext("AppUniqueName") == "qbedi (clerk)"
    assert root.find("Password") is None  # QBWC never takes a password from the file


def test_file_id_stable_and_distinct():
    a = parse(build_qwc(**BASE, company_file=r"C:\QB\A.qbw")).findtext("FileID")
    assert a == parse(build_qwc(**BASE, company_file=r"c:\qb\a.QBW")).findtext("FileID")
    assert a == file_id_for("clerk", r"C:\QB\A.qbw")
    assert a != parse(build_qwc(**BASE, company_file=r"C:\QB\B.qbw")).findtext("FileID")
    explicit = parse(build_qwc(**BASE, owner_id="57f3b9b1-86f1-4fcc-b1ee-566de1813d20", file_id="{90a44fb5-33d9-4815-ac85-bc87a7e7d1eb}"))
    assert explicit.findtext("OwnerID") == "{57F3B9B1-86F1-4FCC-B1EE-566DE1813D20}"
    assert explicit.findtext("FileID") == "{90A44FB5-33D9-4815-AC85-BC87A7E7D1EB}"


def test_localhost_http_allowed_but_not_ip_or_remote_http():
    ok = build_qwc(app_name="qbedi", app_url="http://localhost:8080/qbwc", support_url="http://localhost:8080/support",
                   username="clerk")
    assert "<AppURL>http://localhost:8080/qbwc</AppURL>" in ok
    with pytest.raises(QwcError, match="https"):
        build_qwc(**{**BASE, "app_url": "http://qb.example.com/qbwc", "support_url": "http://qb.example.com/s"})
    with pytest.raises(QwcError, match="localhost"):
        build_qwc(**{**BASE, "app_url": "http://127.0.0.1:8080/qbwc", "support_url": "http://127.0.0.1:8080/s"})
    with pytest.raises(QwcError, match="IP address"):
        build_qwc(**{**BASE, "app_url": "https://10.0.0.5/qbwc", "support_url": "https://10.0.0.5/s"})
    with pytest.raises(QwcError, match="same host"):
        build_qwc(**{**BASE, "support_url": "https://other.example.com/support"})
    with pytest.raises(QwcError):
        build_qwc(**{**BASE, "run_every_minutes": 0})
    with pytest.raises(QwcError):
        guid("nope")


def test_escaping_and_no_schedule():
    text = build_qwc(**{**BASE, "app_name": "A & B <co>"}, run_every_minutes=None, description="x & y")
    root = parse(text)
    assert root.findtext("AppName") == "A & B <co>" and root.find("Scheduler") is None
    assert text.startswith('<?xml version="1.0" encoding="utf-8"?>')
