"""Builders shared by the test layers: configs, X12 interchanges, QuickBooks emulator companies."""
from __future__ import annotations

import time
from decimal import Decimal
from pathlib import Path

import yaml

from connector.passwords import hash_password
from tests.support import DATA, x12_file  # noqa: F401 - x12_file: the tests' own X12 files

# the tests' supplier mappings (acme / globex), owned by the tests: tests/data/suppliers.yaml
SUPPLIERS = yaml.safe_load((DATA / "suppliers.yaml").read_text(encoding="utf-8"))
# Acme with item lines (purchase orders and receipts need items)
ITEM_SUPPLIERS = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "line_rules": [
    {"vendor_part": "AC-100", "item": "Hex Bolt 3/8"}, {"vendor_part": "AC-220", "item": "Shop Towels", "unit": "CA"}]}}
PASSWORD = "correct horse battery staple"
PASSWORD_HASH = _HASH = hash_password(PASSWORD, n=2**10)  # cheap for tests; production uses 2**14


def write_config(tmp: Path, db_url: str, *, suppliers=None, users=None, **extra) -> Path:
    (tmp / "inbox").mkdir(exist_ok=True)
    cfg = {
        "database": {"url": db_url},
        # settle_seconds 0: tests write each file whole before polling (the default waits 2 s for writers)
        "sources": [{"name": "inbox", "type": "folder", "path": str(tmp / "inbox"), "settle_seconds": 0}],
        "web_connector": {"users": users if users is not None else [
            {"username": "clerk", "password_hash": _HASH, "company_file": r"C:\QB\Northwind.qbw"}]},
        "suppliers": SUPPLIERS if suppliers is None else suppliers,
        **extra,
    }
    path = tmp / "qbedi.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


def runtime_for(tmp_path: Path, db_url: str, suppliers=None, **web_connector):
    """A migrated runtime on a written config (``suppliers``: default the tests' own mappings) with extra
    ``web_connector`` settings; no sources built."""
    from connector.settings import load_settings
    from qbedi.runtime import build_runtime

    path = write_config(tmp_path, db_url, suppliers=suppliers)
    cfg = yaml.safe_load(path.read_text())
    cfg["web_connector"].update(web_connector)
    path.write_text(yaml.safe_dump(cfg))
    return build_runtime(load_settings(path))


def x12(functional_id: str, st: str, body: list[str], *, sender="ACMESUPPLY", receiver="NORTHWIND", ctrl=301) -> bytes:
    """A well-formed single-set interchange (counts and control numbers right)."""
    segs = ["ISA*00*          *00*          *ZZ*%-15s*ZZ*%-15s*261121*1000*U*00401*%09d*0*P*>"
            % (sender, receiver, ctrl),
            f"GS*{functional_id}*{sender}*{receiver}*20261121*1000*{ctrl}*X*004010", f"ST*{st}*0001", *body]
    segs.append(f"SE*{len(body) + 2}*0001")
    segs += [f"GE*1*{ctrl}", "IEA*1*%09d" % ctrl]
    return ("~\n".join(segs) + "~\n").encode()


def long_invoice(lines: int, *, number: str = "INV-BIG-1", ctrl: int = 501) -> tuple[bytes, Decimal]:
    """An 810 from ACMESUPPLY with ``lines`` IT1 lines (amounts differ line to line: :func:`long_invoice_amounts`)
    and its total: a bill too big for one Web Connector round trip when long enough."""
    body = [f"BIG*20261118*{number}**PO-7781", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY", "ITD*01*3*2**10**30"]
    body += [f"IT1*{n}*{n % 7 + 1}*EA*{Decimal(100 + n % 13 * 17) / 100:.2f}**VN*AC-{100 + n}" for n in range(1, lines + 1)]
    total = sum(long_invoice_amounts(lines), Decimal(0))
    body += [f"TDS*{int(total * 100)}", f"CTT*{lines}"]
    return x12("IN", "810", body, ctrl=ctrl), total


def long_invoice_amounts(lines: int) -> list[Decimal]:
    """The line amounts of :func:`long_invoice`, in order."""
    return [Decimal(n % 7 + 1) * Decimal(100 + n % 13 * 17) / 100 for n in range(1, lines + 1)]


def ship_notice(po: str, items: list[tuple[str, int, str]], *, number="ASN-5001", ctrl=301) -> bytes:
    body = ["BSN*00*%s*20261121*1000" % number, "HL*1**S", "TD5*B*2*FDEG",
            "N1*SF*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY", "HL*2*1*O", f"PRF*{po}"]
    for n, (part, qty, unit) in enumerate(items, 3):
        body += [f"HL*{n}*2*I", f"LIN**VN*{part}", f"SN1**{qty}*{unit}"]
    body.append(f"CTT*{len(items) + 2}")
    return x12("SH", "856", body, ctrl=ctrl)


def wait_for(predicate, timeout: float = 20.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if predicate():
            return True
        time.sleep(0.1)
    return False


def make_quickbooks(*, vendors=("Acme Industrial Supply",), accounts=(), classes=("Warehouse",), items=()):
    """A QuickBooks emulator company seeded with names (items: (name, cost) pairs, inventory items)."""
    from fakes.quickbooks import QuickBooksEmulator

    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    for v in vendors:
        qb.add_vendor(v)
    for a in accounts:
        qb.add_account(a, "Expense")
    for c in classes:
        qb.add_class(c)
    for name, cost in items:
        qb.add_item(name, "ItemInventory", cost=cost)
    return qb


def interchange(numbers: list[str], *, ctrl: int = 501, ge_sets: int | None = None) -> bytes:
    """One ISA / GS with an Acme 810 per number (GE01 = ``ge_sets``, default right)."""
    segs = ["ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*NORTHWIND      *261120*0930*U*00401*%09d*0*P*>"
            % ctrl, f"GS*IN*ACMESUPPLY*NORTHWIND*20261120*0930*{ctrl}*X*004010"]
    for n, number in enumerate(numbers, 1):
        body = [f"BIG*20261118*{number}**PO-7781", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY",
                "IT1*1*10*EA*12.50**VN*AC-100", "TDS*12500"]
        segs += [f"ST*810*{n:04d}", *body, f"SE*{len(body) + 2}*{n:04d}"]
    segs += [f"GE*{len(numbers) if ge_sets is None else ge_sets}*{ctrl}", "IEA*1*%09d" % ctrl]
    return ("~\n".join(segs) + "~\n").encode()
