"""AP web page bench: page render times with a large store (issue 13: p99 < 150 ms with 100,000 documents).

    python bench/web.py                         # 100,000 documents, SQLite in a temporary folder
    python bench/web.py --n 20000 --requests 100
    python bench/web.py --db-url postgresql+psycopg://postgres@127.0.0.1:5432/test   # an EMPTY database

What runs:

* **Store.** ``--n`` documents are bulk-inserted (5,000 rows per statement) with one received file each (a real
  810 interchange, ~600 bytes), the mix a store has after months: 85 % posted (a done BillAdd request with its
  qbXML and TxnID), 5 % queued, 3 % awaiting approval, 5 % held (unmapped line, unknown supplier, duplicate,
  total mismatch), 2 % failed (a QuickBooks refusal); three audit events per document (translated, queued,
  posted / held), 2,000 sync-history rows, one company state. Then ``ANALYZE``.
* **Pages.** The real Flask app (``web.create_app``) on that store, signed in as an admin, through werkzeug's
  test client (in process, no HTTP: what is measured is the app: queries + templates). Each page is asked
  ``--requests`` times after 5 warm-up requests; the document page cycles through random documents.
* **Printed:** p50 / p99 / max per page in ms, and the load average at start and end (``os.getloadavg``).
"""
from __future__ import annotations

import argparse
import os
import random
import re
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta
from decimal import Decimal
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlalchemy import insert, text  # noqa: E402

from connector import control  # noqa: E402
from connector.passwords import hash_password  # noqa: E402
from connector.settings import Settings  # noqa: E402
from connector.services import IngestService  # noqa: E402
from connector.status import Activity, DocStatus, RqState  # noqa: E402
from connector.store import (AuditEvent, CompanyState, Document, QueuedRequest, ReceivedFile,  # noqa: E402
                             SourceState, Store, SyncEvent)

PASSWORD = "bench-password"
CHUNK = 5000
X12 = ("ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*NORTHWIND      *261120*0930*U*00401*{ctrl:09d}*0*P*>~\n"
       "GS*IN*ACMESUPPLY*NORTHWIND*20261120*0930*{ctrl}*X*004010~\nST*810*0001~\nBIG*20261118*{num}**PO-7781~\n"
       "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY~\nITD*01*3*2**10**30~\nIT1*1*10*EA*12.50**VN*AC-100~\n"
       "PID*F****HEX BOLT 3/8 BOX OF 100~\nIT1*2*4*CA*37.25**VN*AC-220~\nPID*F****SHOP TOWELS CASE~\nTDS*28900~\n"
       "SAC*C*D240***1500**********FREIGHT~\nCTT*2~\nSE*12*0001~\nGE*1*{ctrl}~\nIEA*1*{ctrl:09d}~\n")
QBXML = ('<?xml version="1.0" encoding="utf-8"?>\n<?qbxml version="13.0"?>\n<QBXML><QBXMLMsgsRq onError="continueOnError">'
         "<BillAddRq><BillAdd><VendorRef><FullName>Acme Industrial Supply</FullName></VendorRef><TxnDate>2026-11-18"
         "</TxnDate><RefNumber>{num}</RefNumber><ExpenseLineAdd><AccountRef><FullName>Job Materials</FullName>"
         "</AccountRef><Amount>125.00</Amount></ExpenseLineAdd><ExpenseLineAdd><AccountRef><FullName>Janitorial "
         "Supplies</FullName></AccountRef><Amount>149.00</Amount></ExpenseLineAdd></BillAdd></BillAddRq>"
         "</QBXMLMsgsRq></QBXML>")
HOLDS = [("unmapped_line", "line 1 (vendor part AC-100, HEX BOLT 3/8 BOX OF 100) matches no line rule and supplier "
                           "ACMESUPPLY has no default_account"),
         ("unknown_supplier", "no supplier mapping matches this document (ids seen: INITECHEDI)"),
         ("duplicate_document", "ACMESUPPLY 810 INV-1 is already posted (document #1, Bill 1-1)"),
         ("total_mismatch", "lines and charges add up to 274.00, the TDS total is 289.00")]


def parsed(num: str, holds: list) -> dict:
    return {"transaction_set": "810", "document_number": num, "document_date": "2026-11-18",
            "due_date": "2026-12-18", "supplier": {"id": "ACMESUPPLY", "name": "Acme Industrial Supply"},
            "currency": "USD", "total": "289.00", "credit": False, "status": "held" if holds else "ready",
            "holds": [{"code": c, "message": m} for c, m in holds], "notes": [],
            "lines": [{"line_number": "1", "quantity": "10", "unit": "EA", "unit_price": "12.50", "amount": "125.00",
                       "vendor_part": "AC-100", "description": "HEX BOLT 3/8 BOX OF 100", "po_number": "PO-7781"},
                      {"line_number": "2", "quantity": "4", "unit": "CA", "unit_price": "37.25", "amount": "149.00",
                       "vendor_part": "AC-220", "description": "SHOP TOWELS CASE", "po_number": "PO-7781"}],
            "charges": [{"code": "D240", "description": "FREIGHT", "amount": "15.00"}]}


def fill(store: Store, n: int, seed: int = 7) -> dict[str, int]:
    rnd = random.Random(seed)
    start = datetime(2026, 1, 1)
    counts: dict[str, int] = {}
    t0 = time.perf_counter()
    for base in range(0, n, CHUNK):
        files, docs, rqs, audits = [], [], [], []
        for i in range(base + 1, min(n, base + CHUNK) + 1):
            at = start + timedelta(seconds=i * 90)
            num = f"INV-{i:07d}"
            r = rnd.random()
            status = (DocStatus.POSTED if r < .85 else DocStatus.QUEUED if r < .90 else
                      DocStatus.AWAITING_APPROVAL if r < .93 else DocStatus.HELD if r < .98 else DocStatus.FAILED)
            counts[status] = counts.get(status, 0) + 1
            holds = [rnd.choice(HOLDS)] if status == DocStatus.HELD else []
            reason = holds[0] if holds else ("qb_error", "QuickBooks error 3140: there is an invalid reference to "
                                                         "QuickBooks Account \"Job Materials\"") \
                if status == DocStatus.FAILED else (None, None)
            content = X12.format(ctrl=i, num=num).encode()
            files.append({"id": i, "sha256": f"{i:064x}", "source": "inbox", "remote_id": f"f{i}.edi",
                          "name": f"acme_{num}.edi", "size": len(content), "content": content, "received_at": at,
                          "status": "parsed", "attempts": 0})
            queued = status in (DocStatus.POSTED, DocStatus.QUEUED, DocStatus.AWAITING_APPROVAL, DocStatus.FAILED)
            docs.append({"id": i, "file_id": i, "ordinal": 0, "transaction_set": "810", "version": "004010",
                         "interchange_control": f"{i:09d}", "group_control": str(i), "set_control": "0001",
                         "sender_id": "ACMESUPPLY", "supplier_id": None if reason[0] == "unknown_supplier" else "ACMESUPPLY",
                         "document_number": num, "document_date": "2026-11-18", "total": Decimal("289.00"),
                         "currency": "USD", "status": status, "reason_code": reason[0], "reason": reason[1],
                         "parsed": parsed(num, holds), "company": "northwind" if queued else None,
                         "qb_txn_type": "Bill" if status == DocStatus.POSTED else None,
                         "qb_txn_id": f"{i}-1796184949" if status == DocStatus.POSTED else None,
                         "qb_amount": Decimal("289.00") if status == DocStatus.POSTED else None,
                         "posted_at": at + timedelta(minutes=5) if status == DocStatus.POSTED else None,
                         "created_at": at, "updated_at": at})
            if queued:
                state = {DocStatus.POSTED: RqState.DONE, DocStatus.QUEUED: RqState.QUEUED,
                         DocStatus.AWAITING_APPROVAL: RqState.AWAITING, DocStatus.FAILED: RqState.FAILED}[status]
                rqs.append({"id": i, "document_id": i, "company": "northwind", "request_type": "BillAdd",
                            "qbxml": QBXML.format(num=num), "ref_number": num, "vendor": "Acme Industrial Supply",
                            "external_guid": "{%08X-0000-0000-0000-000000000000}" % i, "line_count": 2, "state": state,
                            "attempts": 1 if state in (RqState.DONE, RqState.FAILED) else 0,
                            "status_code": 0 if state == RqState.DONE else 3140 if state == RqState.FAILED else None,
                            "result_txn_id": f"{i}-1796184949" if state == RqState.DONE else None,
                            "created_at": at, "updated_at": at})
            audits.append({"document_id": i, "file_id": i, "kind": "translated", "at": at,
                           "detail": {"status": "held" if holds else "ready", "document_number": num}})
            if queued:
                audits.append({"document_id": i, "file_id": i, "kind": "queued", "at": at,
                               "detail": {"request_id": i, "company": "northwind", "amount": "289.00"}})
            audits.append({"document_id": i, "file_id": i, "kind": status, "at": at + timedelta(minutes=5),
                           "detail": {"request_id": i, "txn_id": f"{i}-1796184949"} if status == DocStatus.POSTED
                           else {"reason": reason[1]}})
        with store.session() as s:
            s.execute(insert(ReceivedFile), files)
            s.execute(insert(Document), docs)
            if rqs:
                s.execute(insert(QueuedRequest), rqs)
            s.execute(insert(AuditEvent), audits)
        print(f"\r  {min(n, base + CHUNK):,} documents ({time.perf_counter() - t0:.0f} s)", end="", flush=True)
    print()
    with store.session() as s:
        s.execute(insert(SyncEvent), [
            {"at": start + timedelta(minutes=5 * k), "scope": "company" if k % 2 else "source",
             "name": "northwind" if k % 2 else "inbox",
             "kind": (Activity.SESSION_ERROR if k % 50 == 1 else Activity.SESSION_OK) if k % 2 else
             (Activity.POLL_FAILED if k % 40 == 0 else Activity.POLL_OK),
             "message": "3 posted, 0 held, 0 failed, 0 waiting" if k % 2 else "4 listed, 4 fetched", "detail": {}}
            for k in range(2000)])
        s.add(CompanyState(company="northwind", info={"company_name": "Northwind Distributing"},
                           last_contact=start + timedelta(days=30), last_result="3 posted, 0 held, 0 failed, 0 waiting"))
        s.add(SourceState(name="inbox", last_poll_at=start + timedelta(days=30), last_ok_at=start + timedelta(days=30),
                          consecutive_failures=0, files_fetched=n))
    with store.engine.begin() as conn:
        conn.execute(text("ANALYZE"))
    return counts


def pct(xs: list[float], p: float) -> float:
    xs = sorted(xs)
    return xs[min(len(xs) - 1, int(round(p / 100 * (len(xs) - 1))))]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=100_000, help="documents in the store (default 100,000)")
    ap.add_argument("--requests", type=int, default=200, help="requests per page (default 200)")
    ap.add_argument("--db-url", help="an empty database (default: SQLite in a temporary folder)")
    args = ap.parse_args()

    tmp = Path(tempfile.mkdtemp(prefix="qbedi-bench-web-"))
    url = args.db_url or f"sqlite:///{tmp / 'bench.db'}"
    store = Store(url)
    store.migrate()
    print(f"load average at start: {os.getloadavg()}; filling {url.split('@')[-1]} with {args.n:,} documents")
    counts = fill(store, args.n)
    print("  " + ", ".join(f"{k} {v:,}" for k, v in sorted(counts.items())))
    control.pause(store, "source", "inbox", by="bench", reason="bench")
    control.resume(store, "source", "inbox", by="bench")

    from web import create_app

    settings = Settings.model_validate({
        "base_dir": tmp, "database": {"url": url},
        "sources": [{"name": "inbox", "type": "folder", "path": str(tmp / "inbox")}],
        "web_connector": {"users": [{"username": "northwind", "password_hash": hash_password("x", n=2**4)}]},
        "web": {"users": [{"username": "admin", "password_hash": hash_password(PASSWORD, n=2**4), "role": "admin"}]},
        "suppliers": {"ACMESUPPLY": {"vendor": "Acme Industrial Supply", "default_account": "Job Materials"}}})
    app = create_app(settings=settings, store=store, ingest=IngestService(store, settings), key=b"k" * 32)
    c = app.test_client()
    csrf = re.search(r'name="csrf" value="([^"]+)"', c.get("/login").get_data(as_text=True)).group(1)
    assert c.post("/login", data={"username": "admin", "password": PASSWORD, "csrf": csrf}).status_code == 302

    rnd = random.Random(11)
    pages = {
        "dashboard /": lambda: "/",
        "held & failed /held": lambda: "/held",
        "held, filtered by reason": lambda: "/held?reason=unmapped_line",
        "held, filtered by supplier + dates": lambda: "/held?supplier=ACMESUPPLY&since=2026-02-01&until=2026-03-01",
        "held, page 20": lambda: "/held?page=20",
        "approval /approval": lambda: "/approval",
        "document page /documents/<id>": lambda: f"/documents/{rnd.randint(1, args.n)}",
        "documents /documents": lambda: "/documents",
        "received files /files": lambda: "/files",
        "sync control /sync": lambda: "/sync",
        "support /support": lambda: "/support",
    }
    print(f"\n{args.requests} requests per page after 5 warm-up; ms per page (werkzeug test client, in process)")
    print(f"{'page':<38} {'p50':>8} {'p99':>8} {'max':>8}  bytes")
    worst = 0.0
    for name, path in pages.items():
        for _ in range(5):
            assert c.get(path()).status_code == 200
        times, size = [], 0
        for _ in range(args.requests):
            p = path()
            t = time.perf_counter()
            r = c.get(p)
            times.append((time.perf_counter() - t) * 1000)
            assert r.status_code == 200, (p, r.status_code)
            size = len(r.data)
        worst = max(worst, pct(times, 99))
        print(f"{name:<38} {statistics.median(times):>8.1f} {pct(times, 99):>8.1f} {max(times):>8.1f}  {size:,}")
    print(f"\nworst p99 {worst:.1f} ms (target < 150 ms): {'met' if worst < 150 else 'MISSED'}")
    print(f"load average at end: {os.getloadavg()}")
    store.dispose()
    return 0


if __name__ == "__main__":
    sys.exit(main())
