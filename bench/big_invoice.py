"""A bill too big for one Web Connector round trip (issue 10): posted in parts, none over the budget.

    python bench/big_invoice.py                       # 600 and 2,000 lines, SQLite
    python bench/big_invoice.py --lines 2000 --db postgres
    python bench/big_invoice.py --kept-share 1.0      # QuickBooks as slow for a kept line as for a new one

What runs: one X12 810 with N IT1 lines is ingested by ``IngestService`` (translation, the durable queue),
then the delivery service (``DeliveryService``, the core the SOAP adapter calls) drains it against the
QuickBooks emulator, one Web Connector session, with no HTTP in between (the SOAP layer adds nothing per
part; ``bench/qbwc.py`` measures it). QuickBooks' time is the emulator's cost model: ``--per-request`` s +
``--per-line`` s per new line + ``--kept-share`` of that per line a BillMod names only to keep it; that
simulated time is the service's clock, so the service learns the costs from its conservative defaults
exactly as it would live, and nothing sleeps.

Figures: parts (BillAdd + BillMods), round trips, the slowest message set's QuickBooks seconds against
the batch budget (the target: never over), the bill QuickBooks ends with (lines, amount = the invoice's),
and our own wall time per SOAP-level call (building a part that names 2,000 lines, applying its answer).
The wall times depend on the machine's load: the header prints it.
"""
from __future__ import annotations

import argparse
import os
import platform
import sys
import tempfile
import time
from decimal import Decimal
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

import yaml  # noqa: E402
from qbwc import database  # noqa: E402 - (SQLite file, or a private PostgreSQL schema)

BUDGET = 45.0


def make_810(lines: int) -> tuple[bytes, Decimal]:
    body = ["BIG*20261118*INV-BIG**PO-7781", "N1*SU*ACME INDUSTRIAL SUPPLY*92*ACMESUPPLY", "ITD*01*3*2**10**30"]
    total = Decimal(0)
    for n in range(1, lines + 1):
        qty, price = n % 7 + 1, Decimal(100 + n % 13 * 17) / 100
        body += [f"IT1*{n}*{qty}*EA*{price:.2f}**VN*AC-{n:05d}", f"PID*F****PART {n}"]
        total += qty * price
    body += [f"TDS*{int(total * 100)}", f"CTT*{lines}"]
    segs = ["ISA*00*          *00*          *ZZ*ACMESUPPLY     *ZZ*NORTHWIND      *261121*1000*U*00401*000000501*0*P*>",
            "GS*IN*ACMESUPPLY*NORTHWIND*20261121*1000*501*X*004010", "ST*810*0001", *body,
            f"SE*{len(body) + 2}*0001", "GE*1*501", "IEA*1*000000501"]
    return ("~\n".join(segs) + "~\n").encode(), total


def run(lines: int, args, db_url: str, tmp: Path) -> dict:
    from sqlalchemy import select

    from connector.delivery import DeliveryService
    from connector.passwords import hash_password
    from connector.services import IngestService
    from connector.settings import load_settings
    from connector.store import AuditEvent, Document, Store
    from fakes.quickbooks import QuickBooksEmulator
    from tests.support.delivery import Session

    (tmp / "inbox").mkdir(exist_ok=True)
    cfg = {"database": {"url": db_url},
           "sources": [{"name": "inbox", "type": "folder", "path": str(tmp / "inbox")}],
           "web_connector": {"users": [{"username": "bench", "password_hash": hash_password("bench", n=2**10),
                                        "company_file": r"C:\QB\Northwind.qbw"}],
                             "batch_budget_seconds": args.budget},
           "suppliers": {"ACMESUPPLY": {"vendor": "Acme Industrial Supply", "default_account": "Job Materials"}}}
    (tmp / "qbedi.yaml").write_text(yaml.safe_dump(cfg))
    settings = load_settings(tmp / "qbedi.yaml")
    store = Store(settings.database_url)
    store.migrate()
    data, total = make_810(lines)
    IngestService(store, settings).ingest(data, source="inbox", remote_id="big.edi", name="big.edi")
    qb = QuickBooksEmulator(company_file=r"C:\QB\Northwind.qbw")
    qb.add_vendor("Acme Industrial Supply")
    qb.add_account("Job Materials", "Expense")
    for kind in ("BillAdd", "BillMod", "BillQuery"):
        qb.processing_time(kind, args.per_line, args.per_request)
    qb.kept_line_share = args.kept_share
    service = DeliveryService(store, settings, clock=lambda: qb.elapsed_seconds)
    session = Session(username="bench")
    walls = []
    for _ in range(10_000):
        t0 = time.perf_counter()
        xml = service.next_request(session)
        walls.append(time.perf_counter() - t0)
        if xml is None:
            break
        answer = qb.process(xml)
        t0 = time.perf_counter()
        service.handle_response(session, answer)
        walls.append(time.perf_counter() - t0)
    service.close(session)
    with store.session() as s:
        doc = s.scalars(select(Document)).one()
        kinds = [k for k in s.scalars(select(AuditEvent.kind).where(AuditEvent.document_id == doc.id))]
        status, reason = doc.status, doc.reason
    store.dispose()
    bills, sets = qb.bills, qb.set_seconds
    return {"lines": lines, "status": status, "reason": reason, "parts": kinds.count("posted_part")
            + kinds.count("posted"), "round_trips": len(sets), "max_qb_s": max(sets), "sum_qb_s": sum(sets),
            "whole_qb_s": args.per_request + lines * args.per_line, "bills": len(bills),
            "bill_lines": len(bills[0].lines) if bills else 0, "amount_ok": bool(bills) and bills[0].amount_due == total,
            "max_wall_ms": 1000 * max(walls)}


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--lines", type=int, nargs="*", default=[600, 2000])
    ap.add_argument("--db", choices=("sqlite", "postgres"), default="sqlite")
    ap.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    ap.add_argument("--budget", type=float, default=BUDGET, help="web_connector.batch_budget_seconds")
    ap.add_argument("--per-request", type=float, default=0.25, help="simulated QuickBooks s per request")
    ap.add_argument("--per-line", type=float, default=0.08, help="simulated QuickBooks s per new line")
    ap.add_argument("--kept-share", type=float, default=0.1,
                    help="a kept line's QuickBooks time as a share of a new line's")
    args = ap.parse_args()
    print(f"# bench/big_invoice.py  python {platform.python_version()}  db={args.db}  "
          f"load={os.getloadavg()[0]:.2f} on {os.cpu_count()} cores  budget={args.budget} s  "
          f"cost={args.per_request} s + {args.per_line} s/line, kept lines x{args.kept_share}")
    print("| lines | whole bill QB s | status | parts | round trips | slowest set QB s | over budget | bill lines "
          "| amount = invoice | our slowest call |")
    print("| --- | --- | --- | --- | --- | --- | --- | --- | --- | --- |")
    bad = False
    for lines in args.lines:
        with tempfile.TemporaryDirectory() as d:
            tmp = Path(d)
            url, cleanup = database("postgresql" if args.db == "postgres" else "sqlite", args.pg_url, tmp)
            try:
                r = run(lines, args, url, tmp)
            finally:
                cleanup()
        over = r["max_qb_s"] > args.budget
        bad |= over or (r["status"] == "posted" and not (r["amount_ok"] and r["bill_lines"] == lines)) \
            or r["bills"] > 1
        print(f"| {lines} | {r['whole_qb_s']:.1f} | {r['status']} | {r['parts']} | {r['round_trips']} | "
              f"{r['max_qb_s']:.1f} | {'YES' if over else 'no'} | {r['bill_lines']} | {r['amount_ok']} | "
              f"{r['max_wall_ms']:.0f} ms |")
        if r["status"] != "posted":
            print(f"  held: {r['reason']}")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
