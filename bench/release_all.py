"""Release all: a supplier's big file held before its mapping, then every held invoice released in one command.

    python bench/release_all.py [--invoices 3000] [--lines 12] [--db sqlite|postgres|both]

In a fresh database (SQLite file, or a private PostgreSQL schema): one generated 810 file of ``--invoices``
invoices (bench/edi_parse.py's generator) is polled by ``qbedi poll --once`` with no supplier mapped, so every
invoice is held as unknown_supplier; then the supplier's mapping is written and ``qbedi release --all
--held-for unknown_supplier --json`` runs as the admin runs it. Prints both processes' wall times and documents
per second (the poll of the same documents, in the same run, for scale), and the machine's load beside them.
Figures only; nothing is asserted here.
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

from edi_parse import compile_bytecode, write_810_file  # noqa: E402
from ingest import load, write_config  # noqa: E402
from qbwc import database  # noqa: E402

QBEDI = [sys.executable, "-m", "qbedi.cli"]


def _timed(argv: list[str]) -> tuple[float, str]:
    t0 = time.perf_counter()
    out = subprocess.run(QBEDI + argv, capture_output=True, text=True, check=True, cwd=ROOT).stdout
    return time.perf_counter() - t0, out


def run_one(kind: str, args) -> None:
    import yaml

    work = Path(tempfile.mkdtemp(prefix=f"qbedi-bench-release-{kind}-"))
    url, drop = database(kind, args.pg_url, work)
    try:
        config = write_config(work, url)
        cfg = yaml.safe_load(config.read_text())
        mapping, cfg["suppliers"] = cfg["suppliers"], {}
        config.write_text(yaml.safe_dump(cfg))
        per_invoice = 250 + 95 * args.lines  # (bytes of one generated invoice, as bench/ingest.py sizes it)
        invoices, _ = write_810_file(work / "inbox" / "big810.edi", args.invoices * per_invoice / 1024 / 1024,
                                     args.lines)
        poll_s, _ = _timed(["poll", "--once", "--json", "--config", str(config)])
        before = load()
        cfg["suppliers"] = mapping  # the admin maps the supplier
        config.write_text(yaml.safe_dump(cfg))
        release_s, out = _timed(["release", "--all", "--held-for", "unknown_supplier", "--json", "--config",
                                 str(config)])
        report = json.loads(out)
        print(f"{kind:10s} {invoices} invoices held, then released: {report['counts']}, not released "
              f"{report['not_released']}")
        print(f"{'':10s} qbedi poll --once      {poll_s:7.1f} s  {invoices / poll_s:7.0f} documents/s")
        print(f"{'':10s} qbedi release --all    {release_s:7.1f} s  {report['released'] / release_s:7.0f} "
              f"documents/s  ({before}; after: {load()})")
    finally:
        drop()
        shutil.rmtree(work, ignore_errors=True)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--invoices", type=int, default=3000, help="about this many invoices in the file")
    ap.add_argument("--lines", type=int, default=12)
    ap.add_argument("--db", choices=["sqlite", "postgres", "both"], default="sqlite")
    ap.add_argument("--pg-url", default=os.environ.get("QBEDI_TEST_DATABASE_URL",
                                                       "postgresql+psycopg://postgres@127.0.0.1:5432/test"))
    args = ap.parse_args()
    compile_bytecode()
    for kind in (["sqlite", "postgres"] if args.db == "both" else [args.db]):
        run_one(kind, args)


if __name__ == "__main__":
    main()
