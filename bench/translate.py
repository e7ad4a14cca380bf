"""Full translation throughput (parse + supplier mapping + holds + qbXML) vs pyx12's bare tokenizer.

    python bench/translate.py [--mb 20] [--rss-mb 100] [--lines 12]

In one run, on the same generated 810 file (bench/edi_parse.py's generator):
  1. qbedi: ``edi.iter_sets`` streaming + ``connector.translate.translate_set``
     for every invoice (BillAdd qbXML built with lxml, as ``qbedi translate``);
  2. baseline: ``pyx12.x12file.X12Reader`` iterating the segments only.
Prints documents/s, segments/s and the ratio qbedi/pyx12 in segments per
second (issue 12's target >= 1.0: the whole translation as fast as pyx12 only
splitting the file). Then translates a ``--rss-mb`` file in a fresh
process and prints its peak RSS (target < 200 MB); then the same for the command
itself, ``qbedi translate --json FILE > /dev/null``, beside the same command on
a one-invoice file (the baseline: the interpreter, the imports, the settings):
the command streams, so the big file should cost little more than the small one.
Figures only; nothing is asserted here.
"""
from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "bench"))

from edi_parse import compile_bytecode, peak_rss_mb, time_pyx12, write_810_file  # noqa: E402

SUPPLIERS = {"SUPPLIER": {"vendor": "Acme Supply Co", "default_account": "Job Materials", "class": "Warehouse",
                          "terms_days": 30, "charge_account": "Freight and Delivery"}}


def translate_file(path: Path) -> tuple[float, int, int, dict]:
    import edi
    from connector.settings import Settings
    from connector.translate import translate_set

    import qbxml_templates  # noqa: F401 - imported before timing (steady-state throughput, like pyx12's import)

    settings = Settings.model_validate({"suppliers": SUPPLIERS})
    docs = segs = 0
    statuses: dict[str, int] = {}
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        for n, ps in enumerate(edi.iter_sets(fh)):
            t = translate_set(settings, ps, ordinal=n, file_sha256="0" * 64, file_name=path.name)
            statuses[t.status] = statuses.get(t.status, 0) + 1
            docs += 1
            segs += ps.segment_count
    return time.perf_counter() - t0, docs, segs, statuses


def rss_child(path: str) -> None:
    seconds, docs, _, statuses = translate_file(Path(path))
    print(f"{seconds:.1f} {docs} {peak_rss_mb():.1f} {statuses}")


def write_config(folder: Path) -> Path:
    """The supplier mapping as a config file: ``qbedi translate`` run as a user runs it, with the config that
    maps the file's supplier (without one every invoice is held as unknown_supplier and no qbXML is built:
    the cheap path, which this bench timed until 2026-12-02)."""
    import yaml

    path = folder / "qbedi.yaml"
    path.write_text(yaml.safe_dump({"suppliers": SUPPLIERS}), encoding="utf-8")
    return path


def cli_child(path: str, config: str) -> None:
    """``qbedi translate --config config --json path`` with its output thrown away; its peak RSS on stderr."""
    import contextlib
    import os

    from qbedi.cli import main as qbedi

    with open(os.devnull, "w") as null, contextlib.redirect_stdout(null):
        qbedi(["translate", "--config", config, "--json", path])
    print(f"{peak_rss_mb():.1f}", file=sys.stderr)


def _wall(cmd: list[str], runs: int = 3) -> float:
    """The best of ``runs`` wall times of a command, its output thrown away."""
    best = float("inf")
    for _ in range(runs):
        t0 = time.perf_counter()
        subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, check=True, cwd=ROOT)
        best = min(best, time.perf_counter() - t0)
    return best


def _cli_rss(path: Path, config: Path) -> float:
    err = subprocess.run([sys.executable, __file__, "--cli-child", str(path), str(config)], capture_output=True,
                         text=True, check=True).stderr.split()
    return float(err[-1])


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--mb", type=float, default=20)
    ap.add_argument("--rss-mb", type=float, default=100)
    ap.add_argument("--lines", type=int, default=12)
    ap.add_argument("--child", help=argparse.SUPPRESS)
    ap.add_argument("--cli-child", nargs=2, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        rss_child(args.child)
        return
    if args.cli_child:
        cli_child(*args.cli_child)
        return
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "bench810.edi"
        invoices, segments = write_810_file(path, args.mb, args.lines)
        print(f"file: {path.stat().st_size / 1e6:.1f} MB, {invoices} invoices, {segments} segments")
        q_s, docs, q_segs, statuses = translate_file(path)
        p_s, p_segs = time_pyx12(path)
        print(f"qbedi translate : {q_s:6.2f} s  {docs / q_s:8.0f} documents/s  {q_segs / q_s:9.0f} segments/s  "
              f"{statuses}")
        print(f"pyx12 X12Reader : {p_s:6.2f} s  {'-':>8} documents/s  {p_segs / p_s:9.0f} segments/s  (tokenizing only)")
        ratio = (q_segs / q_s) / (p_segs / p_s)
        print(f"ratio (segments/s, qbedi full translation / pyx12 tokenizing): {ratio:.2f}  (target >= 1.0)")

        big = Path(tmp) / "bench810-big.edi"
        inv_big, _ = write_810_file(big, args.rss_mb, args.lines)
        out = subprocess.run([sys.executable, __file__, "--child", str(big)], capture_output=True, text=True,
                             check=True).stdout.split(maxsplit=3)
        print(f"peak RSS translating a {big.stat().st_size / 1e6:.0f} MB file ({inv_big} invoices) in a fresh "
              f"process: {float(out[2]):.0f} MB in {float(out[0]):.0f} s  (target < 200 MB)")
        # the whole process, as a user runs it, against a process that only reads the file with pyx12
        config = write_config(Path(tmp))
        compile_bytecode()  # (as installed: pyx12's bytecode is)
        q_proc = _wall([sys.executable, "-m", "qbedi.cli", "translate", "--config", str(config), "--json", str(path)])
        p_proc = _wall([sys.executable, "-c", "import sys, pyx12.x12file\nfor _ in pyx12.x12file.X12Reader(sys.argv[1]): "
                        "pass", str(path)])
        print(f"whole process: `qbedi translate --config ... --json` {q_proc:.2f} s, pyx12 reading only {p_proc:.2f} s: ratio "
              f"{p_proc / q_proc:.2f}  (target >= 0.7)")
        small = Path(tmp) / "bench810-one.edi"
        write_810_file(small, 0.0001, args.lines)
        base, whole = _cli_rss(small, config), _cli_rss(big, config)
        print(f"peak RSS of `qbedi translate --json`: {whole:.0f} MB for the {big.stat().st_size / 1e6:.0f} MB file, "
              f"{base:.0f} MB for a {small.stat().st_size / 1e3:.1f} kB one: {whole / base:.2f}x the baseline")


if __name__ == "__main__":
    main()
