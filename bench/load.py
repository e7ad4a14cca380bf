"""Many companies at once: 50 Web Connectors for 50 company files against one qbedi deployment.

    python bench/load.py                                   # 50 companies x 20 invoices, SQLite, 1 process
    python bench/load.py --db postgres --processes 2       # PostgreSQL, two `qbedi serve` processes
    python bench/load.py --companies 10 --invoices 5       # a quick look

What runs (everything real except QuickBooks and the Web Connector):

* **Workspace.** One config with one Web Connector user per company (``company01`` ...) and one supplier
  per company (``SUP01`` ... each ``company: companyNN``), so every company's invoices go to its own
  queue. ``--invoices`` X12 810s per supplier are ingested through ``IngestService`` (the poll path).
* **Serve.** ``--processes`` real ``qbedi serve`` processes on 127.0.0.1, one database. Tickets live in
  the process that issued them, so each company's Web Connector talks to one process (what a load
  balancer with session affinity does); the queue, the answers and the audit trail are shared through
  the database.
* **Clients.** One thread per company runs the QBWC simulator (real SOAP envelopes over HTTP) against its
  own QuickBooks emulator, session after session until its company is drained, all at once.

Figures: documents posted per second (wall), SOAP call round trips per method (p50 / p99 / max, measured
by the client over loopback: server time plus the loopback and the client's own thread scheduling, so
an upper bound of the server time), and the two that must be 0: bills in a company's QuickBooks that
belong to another company (a cross-company leak) and invoices posted twice. The header prints the load.
"""
from __future__ import annotations

import argparse
import os
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

import requests  # noqa: E402
import yaml  # noqa: E402

from connector.passwords import hash_password  # noqa: E402

PASSWORD = "load-bench-password"
ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Freight and Delivery")
TEMPLATE = (REPO / "tests" / "data" / "x12" / "acme_INV-10045.edi").read_bytes()


def invoice(company: int, n: int) -> bytes:
    sid = f"SUP{company:02d}"
    control = company * 1000 + n
    return (TEMPLATE.replace(b"ACMESUPPLY     ", f"{sid:<15}".encode())
            .replace(b"ACMESUPPLY", sid.encode())
            .replace(b"INV-10045", f"C{company:02d}-INV-{n:04d}".encode())
            .replace(b"000000101", f"{control:09d}".encode())
            .replace(b"*101*", f"*{control}*".encode()).replace(b"GE*1*101", f"GE*1*{control}".encode()))


def write_workspace(work: Path, db_url: str, companies: int) -> Path:
    hashed = hash_password(PASSWORD, n=2**10)
    cfg = {
        "database": {"url": db_url},
        "sources": [{"name": "inbox", "type": "folder", "path": str(work / "inbox"), "settle_seconds": 0}],
        "web_connector": {"users": [{"username": f"company{i:02d}", "password_hash": hashed,
                                     "company_file": rf"C:\QB\Company{i:02d}.qbw"} for i in range(1, companies + 1)],
                          "reference_refresh_minutes": 0},
        "suppliers": {f"SUP{i:02d}": {"vendor": f"Vendor {i:02d}", "default_account": "Job Materials",
                                      "class": "Warehouse", "terms_days": 30,
                                      "charge_accounts": {"D240": "Freight and Delivery"},
                                      "company": f"company{i:02d}"} for i in range(1, companies + 1)},
        "logging": {"level": "WARNING", "format": "json", "file": str(work / "qbedi.log")},
    }
    (work / "inbox").mkdir(parents=True, exist_ok=True)
    path = work / "qbedi.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


def ingest(cfg: Path, companies: int, invoices: int) -> float:
    from connector.logs import configure_logging
    from connector.settings import load_settings
    from qbedi.runtime import build_runtime

    configure_logging("WARNING", "json", file=os.devnull)
    rt = build_runtime(load_settings(cfg), with_sources=False)
    started = time.perf_counter()
    for c in range(1, companies + 1):
        for n in range(1, invoices + 1):
            name = f"c{c:02d}-{n:04d}.edi"
            rt.ingest.ingest(invoice(c, n), source="inbox", remote_id=name, name=name)
    took = time.perf_counter() - started
    rt.close()
    return took


def free_port() -> int:
    import socket

    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_servers(cfg: Path, n: int) -> list[tuple[subprocess.Popen, int]]:
    qbedi = str(Path(sys.executable).with_name("qbedi"))
    out = []
    for _ in range(n):
        port = free_port()
        proc = subprocess.Popen([qbedi, "serve", "--config", str(cfg), "--port", str(port)],
                                stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        out.append((proc, port))
    for proc, port in out:
        for _ in range(300):
            try:
                if requests.get(f"http://127.0.0.1:{port}/health", timeout=1).status_code == 200:
                    break
            except requests.ConnectionError:
                time.sleep(0.1)
        else:
            raise SystemExit(f"qbedi serve on port {port} did not start")
    return out


def make_company(i: int):
    from fakes.quickbooks import QuickBooksEmulator

    qb = QuickBooksEmulator(company_file=rf"C:\QB\Company{i:02d}.qbw")
    qb.add_vendor(f"Vendor {i:02d}")
    for a in ACCOUNTS:
        qb.add_account(a, "Expense")
    qb.add_class("Warehouse")
    return qb


def drive(i: int, url: str, qb, invoices: int, times: dict, errors: list) -> None:
    from fakes.qbwc_simulator import QBWCSimulator

    sim = QBWCSimulator(url, f"company{i:02d}", PASSWORD, qb, timeout=60)
    original = sim.call

    def timed(method, **args):
        started = time.perf_counter()
        try:
            return original(method, **args)
        finally:
            times[method].append(time.perf_counter() - started)

    sim.call = timed
    for _ in range(20):
        run = sim.run()
        if run.errors:
            errors.append(f"company{i:02d}: {run.errors[0][:200]}")
        if len(qb.bills) >= invoices:
            return


def pct(values: list[float], p: float) -> float:
    values = sorted(values)
    return values[min(len(values) - 1, int(round(p / 100 * (len(values) - 1))))] if values else 0.0


def database(kind: str, pg_url: str, work: Path):
    if kind == "sqlite":
        return f"sqlite:///{work / 'qbedi.db'}", lambda: None
    from sqlalchemy import create_engine, text

    schema = f"load_{uuid.uuid4().hex[:10]}"
    admin = create_engine(pg_url)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))

    def drop():
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()

    sep = "&" if "?" in pg_url else "?"
    return f"{pg_url}{sep}options=-csearch_path%3D{schema}", drop


def run(args) -> bool:
    work = Path(tempfile.mkdtemp(prefix="qbedi-load-"))
    db_url, drop = database(args.db, args.pg_url, work)
    servers = []
    try:
        cfg = write_workspace(work, db_url, args.companies)
        subprocess.run([str(Path(sys.executable).with_name("qbedi")), "migrate", "--config", str(cfg)], check=True,
                       stdout=subprocess.DEVNULL)
        took = ingest(cfg, args.companies, args.invoices)
        total = args.companies * args.invoices
        print(f"ingested {total} invoices for {args.companies} companies in {took:.1f} s "
              f"({total / took:.0f}/s, through IngestService); load {os.getloadavg()[0]:.2f}")
        servers = start_servers(cfg, args.processes)
        companies = {i: make_company(i) for i in range(1, args.companies + 1)}
        times: dict[str, list[float]] = defaultdict(list)
        errors: list[str] = []
        started = time.perf_counter()
        threads = [threading.Thread(target=drive, args=(i, f"http://127.0.0.1:{servers[i % len(servers)][1]}/qbwc",
                                                        qb, args.invoices, times, errors))
                   for i, qb in companies.items()]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        wall = time.perf_counter() - started
        load = os.getloadavg()[0]

        leaks = dups = missing = 0
        for i, qb in companies.items():
            refs = [b.ref_number for b in qb.bills]
            mine = {f"C{i:02d}-INV-{n:04d}" for n in range(1, args.invoices + 1)}
            leaks += sum(1 for r in refs if r not in mine)
            dups += len(refs) - len(set(refs))
            missing += len(mine - set(refs))
        from sqlalchemy import create_engine, text

        engine = create_engine(db_url)
        with engine.connect() as conn:
            posted = conn.execute(text("SELECT count(*) FROM edi_document WHERE status = 'posted'")).scalar()
            wrong_company = conn.execute(text(
                "SELECT count(*) FROM edi_document d JOIN qb_request r ON r.document_id = d.id "
                "WHERE r.company <> d.company")).scalar()
        engine.dispose()

        calls = sum(len(v) for v in times.values())
        print(f"{args.db}, {args.processes} process(es), {args.companies} companies x {args.invoices} invoices: "
              f"{posted} posted in {wall:.1f} s = {posted / wall:.1f} documents/s, {calls} SOAP calls; "
              f"load {load:.2f} (2 cores)")
        print(f"{'method':<20}{'calls':>7}{'p50 ms':>9}{'p99 ms':>9}{'max ms':>9}")
        for method, v in sorted(times.items()):
            print(f"{method:<20}{len(v):>7}{pct(v, 50) * 1000:>9.1f}{pct(v, 99) * 1000:>9.1f}{max(v) * 1000:>9.1f}")
        every = [x for v in times.values() for x in v]
        print(f"{'all':<20}{len(every):>7}{pct(every, 50) * 1000:>9.1f}{pct(every, 99) * 1000:>9.1f}"
              f"{max(every) * 1000:>9.1f}")
        print(f"cross-company leaks: {leaks} (bills in one company's QuickBooks from another's queue), requests "
              f"queued for another company than their document's: {wrong_company}")
        print(f"duplicates: {dups} (invoices posted twice); not posted: {missing}; session errors: {len(errors)}")
        for e in errors[:5]:
            print("  ", e)
        return leaks == 0 and dups == 0 and missing == 0 and wrong_company == 0
    finally:
        for proc, _port in servers:
            proc.terminate()
        for proc, _port in servers:
            try:
                proc.wait(30)
            except subprocess.TimeoutExpired:
                proc.kill()
        drop()
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
        else:
            print(f"kept {work}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--companies", type=int, default=50)
    p.add_argument("--invoices", type=int, default=20, help="invoices per company")
    p.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    p.add_argument("--pg-url", default="postgresql+psycopg://postgres@127.0.0.1:5432/test")
    p.add_argument("--processes", type=int, default=1, help="qbedi serve processes sharing the database")
    p.add_argument("--keep", action="store_true", help="keep the workspace (its qbedi.log)")
    args = p.parse_args(argv)
    print(f"bench/load.py {' '.join(argv if argv is not None else sys.argv[1:])}  load {os.getloadavg()}")
    return 0 if run(args) else 1


if __name__ == "__main__":
    raise SystemExit(main())
