"""A document's page and its set read again (release), for the first, middle and last document of a big file:
from the set's place in the file (``edi_document.set_place``, issue 12) and, for scale, the way documents stored
before migration 0013 are read (the file from its start up to the set; the release also surveys the whole file).

    python bench/set_place.py [--mb 100] [--lines 12]

One generated 810 file (bench/edi_parse.py's generator, one ISA/GS) is polled once into a fresh SQLite store, as
``qbedi poll --once`` does (its supplier mapped: every document queued); then, in the same process, for each of
the three documents: ``connector.views.document_detail`` (everything the document's page shows) and the set
read again as a release reads it (``connector.services._stored_set``), each timed with the document's place and
with its place set aside (set to None inside a unit of work that is rolled back, or put back). The two pages must
show the same segments with the same numbers. Prints the times with the machine's load (2 cores, shared).
"""
from __future__ import annotations

import argparse
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from edi_parse import write_810_file  # noqa: E402
from ingest import fill, load, write_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=100, help="size of the generated file (default 100 MB)")
    ap.add_argument("--lines", type=int, default=12)
    args = ap.parse_args()

    from sqlalchemy import select

    from connector import views
    from connector.logs import configure_logging
    from connector.services import _stored_set
    from connector.settings import load_settings
    from connector.store import Document
    from qbedi.daemon import Poller
    from qbedi.runtime import build_runtime

    work = Path(tempfile.mkdtemp(prefix="qbedi_set_place_"))
    try:
        edi_file = work / "big.edi"
        invoices, segments = write_810_file(edi_file, args.mb, args.lines)
        url = f"sqlite:///{work / 'q.db'}"
        fill(url, 0)
        config = write_config(work, url)
        shutil.move(str(edi_file), work / "inbox" / "big.edi")
        size = (work / "inbox" / "big.edi").stat().st_size / 1e6
        configure_logging("WARNING", "auto")  # (a line a document on this terminal is not what is timed)
        rt = build_runtime(load_settings(config))
        t0 = time.perf_counter()
        for source in rt.sources:
            Poller(rt, source)(force=True)
        print(f"file: {size:.1f} MB, {invoices} invoices of {args.lines} lines, {segments} segments; "
              f"polled in {time.perf_counter() - t0:.1f} s; python {sys.version.split()[0]}, {os.cpu_count()} cores")
        with rt.store.session() as s:
            ids = s.scalars(select(Document.id).order_by(Document.id)).all()
        for label, doc_id in (("first", ids[0]), ("middle", ids[len(ids) // 2]), ("last", ids[-1])):
            before = load()
            with rt.store.session() as s:
                place = s.get(Document, doc_id).set_place
            t = time.perf_counter()
            placed = views.document_detail(rt.store, doc_id)
            page_placed = time.perf_counter() - t
            with rt.store.session() as s:
                s.get(Document, doc_id).set_place = None
            t = time.perf_counter()
            whole = views.document_detail(rt.store, doc_id)
            page_whole = time.perf_counter() - t
            with rt.store.session() as s:
                s.get(Document, doc_id).set_place = place
            if (placed["raw"], placed["raw_at"]) != (whole["raw"], whole["raw_at"]) or not placed["raw_own"]:
                raise SystemExit(f"document {doc_id}: the page differs read from its place")
            with rt.store.session() as s:
                doc = s.get(Document, doc_id)
                t = time.perf_counter()
                _stored_set(s, doc.file, doc)
                read_placed = time.perf_counter() - t
                doc.set_place = None
                t = time.perf_counter()
                _stored_set(s, doc.file, doc)
                read_whole = time.perf_counter() - t
                s.rollback()
            print(f"{label} document (#{doc_id} of {len(ids)}): page {page_placed * 1000:.0f} ms from its place, "
                  f"{page_whole * 1000:.0f} ms reading the file up to it; set read again (release) "
                  f"{read_placed * 1000:.0f} ms from its place, {read_whole * 1000:.0f} ms surveying the file and "
                  f"reading up to it  [{before}]")
        rt.close()
    finally:
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
