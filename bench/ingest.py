"""Ingest of one big X12 file through the path users run, with 0 / 10k / 100k documents already stored.

    python bench/ingest.py [--invoices 3000] [--lines 12] [--stored 0,10000,100000] [--db sqlite|postgres|both]
                           [--cli] [--cleo]

For each store size, in a fresh database (SQLite file, or a private PostgreSQL schema): ``--stored``
posted invoices of the same supplier are bulk-inserted (documents + done requests), then one generated
810 file of ``--invoices`` invoices (bench/edi_parse.py's generator, one ISA/GS) is dropped in a folder
source's inbox and a fresh process runs one poll of it exactly as ``qbedi poll --once`` does
(``build_runtime`` -> ``Poller(rt, source)(force=True)``: receive, survey, translate, chunked commits, 997).
That process prints its wall time and its peak RSS (VmHWM). Reported: time per document, and its ratio to
the empty store's in the same run (issue 12 target <= 1.2 at 100k). With ``--cli`` the empty-store case is
also run as the real ``qbedi poll --once`` process, and ``qbedi translate`` and pyx12's bare reader on the
same file, for scale; with ``--cleo``, ``qbedi poll --once`` of a Cleo source (the Cleo emulator, in a
process of its own, serves the file over loopback HTTP). The machine's load average is printed beside each figure (2 cores, shared).
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from edi_parse import compile_bytecode, peak_rss_mb, time_pyx12, write_810_file  # noqa: E402
from qbwc import database  # noqa: E402

SUPPLIERS = {"SUPPLIER": {"vendor": "Acme Supply Co", "default_account": "Job Materials", "class": "Warehouse",
                          "terms_days": 30, "charge_account": "Freight and Delivery"}}
SERIES = {"postgresql": "generate_series(1, :n) AS s(g)",
          "sqlite": "(WITH RECURSIVE r(g) AS (SELECT 1 UNION ALL SELECT g + 1 FROM r WHERE g < :n) SELECT g FROM r) AS s"}


def load() -> str:
    return "load %.2f %.2f %.2f" % os.getloadavg()


def write_config(work: Path, url: str, time_slice: str = "1h") -> Path:
    import yaml

    from connector.passwords import hash_password

    (work / "inbox").mkdir(exist_ok=True)
    cfg = {"database": {"url": url},
           "sources": [{"name": "inbox", "type": "folder", "path": str(work / "inbox"), "settle_seconds": 0}],
           "web_connector": {"users": [{"username": "clerk", "password_hash": hash_password("x" * 12, n=2**10),
                                        "company_file": r"C:\QB\Northwind.qbw"}]},
           "suppliers": SUPPLIERS,
           "logging": {"level": "INFO", "file": str(work / "qbedi.log")},  # the default level: a line a document
           "file_time_slice": time_slice}  # (the bench times the whole file in one poll)
    path = work / "qbedi.yaml"
    path.write_text(yaml.safe_dump(cfg, sort_keys=False), encoding="utf-8")
    return path


CLEO_EMULATOR = """
import sys, time
from fakes.cleo import CleoEmulator
emu = CleoEmulator(users={"qbedi-api": "cleo-pass-123"}).start()
with open(sys.argv[1], "rb") as fh:
    emu.add_file("ACME", "big810.edi", fh.read())
print(emu.api_url, flush=True)
sys.stdin.read()  # until the bench closes our stdin
emu.stop()
"""


def cleo_config(work: Path, url: str, api_url: str) -> Path:
    """A workspace whose one source is a Cleo emulator (its own process: its memory is not qbedi's)."""
    import yaml

    from connector.credentials import CredentialStore, generate_key_file

    path = write_config(work, url)
    cfg = yaml.safe_load(path.read_text())
    cfg["sources"] = [{"name": "cleo", "type": "cleo", "base_url": api_url, "connections": ["ACME"],
                       "acknowledge": "delete", "max_file_bytes": 1 << 30}]
    path.write_text(yaml.safe_dump(cfg))
    CredentialStore(work / "credentials.enc", generate_key_file(work / "qbedi.key")).set(
        "cleo", "qbedi-api", "cleo-pass-123")
    return path


def fill(url: str, n: int) -> None:
    """``n`` posted invoices of SUPPLIER (one done BillAdd each), as a store that has been running a while."""
    from sqlalchemy import text

    from connector.store import Store

    store = Store(url)
    store.migrate()
    if n:
        with store.engine.begin() as conn:
            series = SERIES[conn.dialect.name]
            conn.execute(text("INSERT INTO received_file (sha256, source, remote_id, name, size, content, received_at, "
                              "status, attempts) VALUES ('0', 'inbox', 'old', 'old.edi', 0, :c, CURRENT_TIMESTAMP, "
                              "'parsed', 0)"), {"c": b""})
            conn.execute(text(
                "INSERT INTO edi_document (file_id, ordinal, transaction_set, version, interchange_control, "
                "group_control, set_control, sender_id, supplier_id, document_number, document_date, total, currency, "
                "status, parsed, company, created_at, updated_at) SELECT (SELECT max(id) FROM received_file), g, "
                "'810', '004010', '1', '1', '0001', 'SUPPLIER', 'SUPPLIER', 'OLD' || g, '2025-01-01', 10, 'USD', "
                f"'posted', '{{}}', 'clerk', CURRENT_TIMESTAMP, CURRENT_TIMESTAMP FROM {series}"), {"n": n})
            conn.execute(text(
                "INSERT INTO qb_request (document_id, company, request_type, qbxml, ref_number, vendor, external_guid, "
                "line_count, state, attempts, created_at, updated_at) SELECT id, 'clerk', 'BillAdd', '<BillAddRq/>', "
                "document_number, 'Acme Supply Co', '', 12, 'done', 1, CURRENT_TIMESTAMP, CURRENT_TIMESTAMP "
                "FROM edi_document"))
    store.dispose()


def child(config: str) -> None:
    """One poll of the inbox, as `qbedi poll --once` runs it; prints JSON."""
    t_start = time.perf_counter()
    from connector.settings import load_settings
    from qbedi.daemon import Poller
    from qbedi.runtime import build_runtime

    settings = load_settings(Path(config))
    rt = build_runtime(settings)
    t0 = time.perf_counter()
    reports = [Poller(rt, src)(force=True) for src in rt.sources]
    seconds = time.perf_counter() - t0
    statuses: dict[str, int] = {}
    for r in reports:
        for f in (r.fetched if r else []):
            for status, n in f.counts.items():
                statuses[status] = statuses.get(status, 0) + n
    docs = sum(statuses.values())
    rt.close()
    print(json.dumps({"seconds": seconds, "process_seconds": time.perf_counter() - t_start, "documents": docs,
                      "statuses": statuses, "peak_rss_mb": peak_rss_mb()}))


def run_case(kind: str, pg_url: str, stored: int, edi_file: Path) -> dict:
    work = Path(tempfile.mkdtemp(prefix="qbedi_ingest_"))
    url, cleanup = database(kind, pg_url, work)
    try:
        fill(url, stored)
        config = write_config(work, url)
        shutil.copy(edi_file, work / "inbox" / edi_file.name)
        before = load()
        out = subprocess.run([sys.executable, __file__, "--child", str(config)], capture_output=True, text=True)
        if out.returncode:
            raise SystemExit(f"child failed:\n{out.stderr[-3000:]}")
        r = json.loads(out.stdout.strip().splitlines()[-1])
        r.update(stored=stored, db=kind, load=before)
        return r
    finally:
        cleanup()
        shutil.rmtree(work, ignore_errors=True)


def cleo_case(edi_file: Path) -> None:
    """``qbedi poll --once`` of a Cleo source (the Cleo emulator over loopback HTTP holds the file)."""
    work = Path(tempfile.mkdtemp(prefix="qbedi_ingest_cleo_"))
    emu = subprocess.Popen([sys.executable, "-c", CLEO_EMULATOR, str(edi_file)], stdin=subprocess.PIPE,
                           stdout=subprocess.PIPE, text=True, cwd=ROOT)
    try:
        api_url = emu.stdout.readline().strip()
        url = f"sqlite:///{work / 'q.db'}"
        fill(url, 0)
        config = cleo_config(work, url, api_url)
        qbedi = str(Path(sys.executable).with_name("qbedi"))
        before = load()
        env = {k: v for k, v in os.environ.items() if k != "QBEDI_SECRET_KEY"}
        wall, rss = timed([qbedi, "poll", "--once", "--config", str(config)], env=env)
        from sqlalchemy import create_engine, text

        engine = create_engine(url)
        with engine.connect() as conn:
            docs = conn.execute(text("SELECT count(*) FROM edi_document")).scalar()
        engine.dispose()
        print(f"qbedi poll --once from Cleo (sqlite, empty store, whole process): {docs} documents in {wall:.1f} s, "
              f"peak RSS {rss:.0f} MB  [{before}]")
    finally:
        emu.stdin.close()
        emu.wait(30)
        shutil.rmtree(work, ignore_errors=True)


LAUNCHER = """
import json, os, subprocess, sys, time
t0 = time.perf_counter()
p = subprocess.Popen(sys.argv[1:], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
_, status, usage = os.wait4(p.pid, 0)
print(json.dumps([time.perf_counter() - t0, usage.ru_maxrss / 1024, os.waitstatus_to_exitcode(status)]))
"""


def timed(cmd: list[str], **kw) -> tuple[float, float]:
    """(wall seconds, peak RSS MB) of one child process. Started by a small launcher process: Linux carries
    the RSS a process had when it forked into its child's ru_maxrss, so a child of this (big) process would
    report this one's RSS when its own is smaller."""
    out = subprocess.run([sys.executable, "-c", LAUNCHER, *cmd], capture_output=True, text=True, check=True, **kw)
    wall, rss, code = json.loads(out.stdout)
    if code:
        raise SystemExit(f"{' '.join(cmd[:3])} ... exited {code}")
    return wall, rss


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--invoices", type=int, default=3000, help="invoices in the file (default 3000)")
    ap.add_argument("--lines", type=int, default=12)
    ap.add_argument("--stored", default="0,10000,100000", help="documents already stored, comma separated "
                                                               "(none: only the --cli / --cleo processes)")
    ap.add_argument("--db", choices=("sqlite", "postgres", "both"), default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("QBEDI_BENCH_PG_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    ap.add_argument("--cli", action="store_true", help="also time `qbedi poll --once`, `qbedi translate` and pyx12")
    ap.add_argument("--cleo", action="store_true", help="also time `qbedi poll --once` fetching the file from a Cleo "
                                                        "emulator (its own process)")
    ap.add_argument("--child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        child(args.child)
        return
    tmp = Path(tempfile.mkdtemp(prefix="qbedi_ingest_file_"))
    try:
        edi_file = tmp / "big810.edi"
        # bench/edi_parse.py's generator writes by size: one invoice of 12 lines is ~1.1 KB
        per_invoice = 250 + 95 * args.lines
        invoices, segments = write_810_file(edi_file, args.invoices * per_invoice / 1024 / 1024, args.lines)
        print(f"file: {edi_file.stat().st_size / 1e6:.1f} MB, {invoices} invoices of {args.lines} lines, "
              f"{segments} segments; python {sys.version.split()[0]}, {os.cpu_count()} cores")
        kinds = ["sqlite", "postgres"] if args.db == "both" else [args.db]
        for kind in kinds:
            base = None
            for stored in [int(x) for x in args.stored.split(",") if x.strip() not in ("", "none")]:
                r = run_case(kind, args.pg_url, stored, edi_file)
                per_doc = r["seconds"] / max(1, r["documents"]) * 1000
                base = per_doc if base is None else base
                print(f"{kind:8s} stored {stored:>7,}: {r['documents']} documents in {r['seconds']:.1f} s = "
                      f"{per_doc:.2f} ms/document ({per_doc / base:.2f}x the first), peak RSS "
                      f"{r['peak_rss_mb']:.0f} MB, {r['statuses']}  [{r['load']}]")
        if args.cli:
            work = Path(tempfile.mkdtemp(prefix="qbedi_ingest_cli_"))
            try:
                fill(f"sqlite:///{work / 'q.db'}", 0)  # (migrated first, as `qbedi run` or `qbedi migrate` leaves it)
                config = write_config(work, f"sqlite:///{work / 'q.db'}")
                shutil.copy(edi_file, work / "inbox" / edi_file.name)
                qbedi = str(Path(sys.executable).with_name("qbedi"))
                compile_bytecode()  # (as installed: pyx12's bytecode is)
                before = load()
                poll_s, poll_rss = timed([qbedi, "poll", "--once", "--config", str(config)])
                tr_s, tr_rss = timed([qbedi, "translate", "--config", str(config), "--json", str(edi_file)])
                p_s, _ = time_pyx12(edi_file)
                print(f"qbedi poll --once (sqlite, empty store, whole process): {poll_s:.1f} s, peak RSS {poll_rss:.0f} MB"
                      f"  [{before}]")
                print(f"qbedi translate --config ... --json (whole process, suppliers mapped): {tr_s:.1f} s, peak RSS {tr_rss:.0f} MB; "
                      f"poll / translate = {poll_s / tr_s:.2f}  [{load()}]")
                print(f"pyx12 X12Reader, segments only (in process): {p_s:.1f} s  [{load()}]")
            finally:
                shutil.rmtree(work, ignore_errors=True)
        if args.cleo:
            cleo_case(edi_file)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    main()
