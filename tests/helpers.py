"""Builders shared by the connector tests."""
from __future__ import annotations

from pathlib import Path

import yaml

from connector.passwords import hash_password

SUPPLIERS = {
    "ACMESUPPLY": {
        "vendor": "Acme Industrial Supply", "default_account": "Job Materials", "class": "Warehouse",
        "terms_days": 30, "charge_accounts": {"D240": "Freight and Delivery"},
        "line_rules": [{"vendor_part": "AC-220", "account": "Janitorial Supplies"},
                       {"description": "pallet jack", "account": "Equipment Repairs"}],
    },
    "GLOBEX-77": {
        "vendor": "Globex Corporation", "default_account": "Job Materials", "match": ["GLOBEXEDI"],
        "terms_days": 45, "charge_accounts": {"C310": "Discounts Received"},
    },
}
PASSWORD = "correct horse battery staple"
_HASH = hash_password(PASSWORD, n=2**10)  # cheap for tests; production uses 2**14


def write_config(tmp: Path, db_url: str, *, suppliers=None, users=None, **extra) -> Path:
    (tmp / "inbox").mkdir(exist_ok=True)
    cfg = {
        "database": {"url": db_url},
        "sources": [{"name": "inbox", "type": "folder", "path": str(tmp / "inbox")}],
        "web_connector": {"users": users if users is not None else [
            {"username": "clerk", "password_hash": _HASH, "company_file": r"C:\QB\Northwind.qbw"}]},
        "suppliers": SUPPLIERS if suppliers is None else suppliers,
        **extra,
    }
    path = tmp / "qbedi.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def demo_bytes(name: str) -> bytes:
    return (Path(__file__).resolve().parents[1] / "connector" / "data" / "demo" / name).read_bytes()
