"""Benchmark the edi reader against pyx12's bare tokenizer, and measure peak RSS.

    python bench/edi_parse.py [--mb 20] [--rss-mb 100] [--lines 12] [--keep DIR]

1. Generates a synthetic 810 file of about ``--mb`` MB (one ISA, one GS, many
   invoices, ``--lines`` IT1 lines each) and times, in the same run:
   - ``edi.iter_sets`` (tokenize + envelope checks + 810 -> Invoice objects),
   - ``pyx12.x12file.X12Reader`` iterating the same file (tokenizing only).
   Prints docs/s, segments/s and the ratio.
2. Generates a ``--rss-mb`` MB file and parses it with ``edi.iter_sets`` in a
   fresh subprocess, printing that process's peak RSS (ru_maxrss).

Figures only; nothing here is asserted.
"""
from __future__ import annotations

import argparse
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(ROOT))


def write_810_file(path: Path, target_mb: float, lines_per_invoice: int = 12) -> tuple[int, int]:
    """Write a valid 4010 810 interchange of about ``target_mb`` MB. Returns (invoices, segments)."""
    target = int(target_mb * 1024 * 1024)
    isa = ("ISA*00*          *00*          *ZZ*SUPPLIER       *ZZ*BUYER          *260101*1200*U*00401*"
           "000000001*0*P*>~\n")
    assert len(isa) == 107
    size = 0
    invoices = 0
    segments = 0
    with open(path, "w", encoding="ascii", newline="") as fh:
        fh.write(isa)
        fh.write("GS*IN*SUPPLIER*BUYER*20260101*1200*1*X*004010~\n")
        size += len(isa) + 48
        segments += 2
        while size < target:
            invoices += 1
            ctrl = f"{invoices:09d}"
            segs = [
                f"ST*810*{ctrl}",
                f"BIG*20260101*INV{invoices:08d}*20251220*PO{invoices % 9973:06d}***DI",
                "CUR*SE*USD",
                f"REF*IA*{invoices % 100000:05d}",
                "N1*VN*ACME SUPPLY CO*92*100200",
                "N3*1 MAIN STREET",
                "N4*SPRINGFIELD*IL*62701*US",
                "N1*ST*BUYER WAREHOUSE*92*0042",
                "ITD*01*3*2**10**30",
                "DTM*011*20260101",
            ]
            total = 0
            for n in range(1, lines_per_invoice + 1):
                qty = (invoices + n) % 50 + 1
                cents = 100 + (invoices * 7 + n * 13) % 9900
                total += qty * cents
                segs.append(f"IT1*{n}*{qty}*EA*{cents // 100}.{cents % 100:02d}**VP*SKU-{n:04d}*UP*0{n:011d}")
                segs.append(f"PID*F****WIDGET MODEL {n} BLUE")
            segs.append("SAC*C*D240***1500")
            total += 1500
            segs.append(f"TDS*{total}")
            segs.append(f"CTT*{lines_per_invoice}")
            segs.append(f"SE*{len(segs) + 1}*{ctrl}")
            text = "~\n".join(segs) + "~\n"
            fh.write(text)
            size += len(text)
            segments += len(segs)
        fh.write(f"GE*{invoices}*1~\nIEA*1*000000001~\n")
        segments += 2
    return invoices, segments


def time_edi(path: Path) -> tuple[float, int, int]:
    import edi

    result = edi.ParseResult()
    docs = 0
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        for ps in edi.iter_sets(fh, result=result):
            if ps.document is not None:
                docs += 1
    elapsed = time.perf_counter() - t0
    bad = [e.message for e in result.errors]
    if bad:
        print("  edi reported errors:", bad[:3])
    return elapsed, docs, len(result.groups[0]["sets"]) if result.groups else 0


def time_pyx12(path: Path) -> tuple[float, int]:
    import pyx12.x12file

    t0 = time.perf_counter()
    n = 0
    reader = pyx12.x12file.X12Reader(str(path))
    for _seg in reader:
        n += 1
    return time.perf_counter() - t0, n


PACKAGES = ("cleo_client", "connector", "edi", "qbedi", "qbwc_server", "qbxml_templates", "web")


def compile_bytecode() -> None:
    """Write qbedi's bytecode (``__pycache__``) as ``pip install`` does, before a whole process is timed: with
    PYTHONDONTWRITEBYTECODE set (this machine's default) nothing else writes it, and every ``qbedi`` process
    would compile its modules first (~50 ms), while pyx12, installed by pip, has its bytecode."""
    subprocess.run([sys.executable, "-m", "compileall", "-q", *(str(ROOT / p) for p in PACKAGES)], check=True,
                   stdout=subprocess.DEVNULL)


def peak_rss_mb() -> float:
    """Peak RSS of this process in MB: VmHWM (reset by exec) where available, else ru_maxrss.

    ru_maxrss survives fork+exec on Linux, so a child started from a big
    parent would report the parent's peak; VmHWM belongs to the new image.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) / 1024
    except OSError:
        pass
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_child(path: str) -> None:
    """Run in a subprocess: parse and print peak RSS in MB."""
    import edi

    base = peak_rss_mb()
    docs = 0
    lines = 0
    t0 = time.perf_counter()
    with open(path, "rb") as fh:
        for ps in edi.iter_sets(fh):
            if ps.document is not None:
                docs += 1
                lines += len(ps.document.lines)
    elapsed = time.perf_counter() - t0
    peak = peak_rss_mb()
    print(f"{docs} {lines} {elapsed:.2f} {base:.1f} {peak:.1f}")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--mb", type=float, default=20.0, help="size of the speed-comparison file (MB)")
    ap.add_argument("--rss-mb", type=float, default=100.0, help="size of the peak-RSS file (MB); 0 to skip")
    ap.add_argument("--lines", type=int, default=12, help="IT1 lines per invoice")
    ap.add_argument("--keep", help="directory to write the generated files to (default: a temp dir)")
    ap.add_argument("--rss-child", help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.rss_child:
        rss_child(args.rss_child)
        return

    tmp = Path(args.keep) if args.keep else Path(tempfile.mkdtemp(prefix="edi_bench_"))
    tmp.mkdir(parents=True, exist_ok=True)
    print(f"python {sys.version.split()[0]}  files in {tmp}")

    path = tmp / f"bench_810_{args.mb:g}mb.edi"
    invoices, segments = write_810_file(path, args.mb, args.lines)
    size_mb = path.stat().st_size / 1024 / 1024
    print(f"speed file: {size_mb:.1f} MB, {invoices} invoices, {segments} segments")

    e_time, docs, _ = time_edi(path)
    print(f"  edi.iter_sets (tokenize+envelope+810 parse): {e_time:7.2f} s  "
          f"{docs / e_time:9.0f} docs/s  {segments / e_time:10.0f} segments/s  {size_mb / e_time:6.1f} MB/s")
    import edi

    t0 = time.perf_counter()
    kept = edi.parse(path)
    k_time = time.perf_counter() - t0
    print(f"  edi.parse (same, keeping all documents):    {k_time:7.2f} s  "
          f"{len(kept.sets) / k_time:9.0f} docs/s  {segments / k_time:10.0f} segments/s")
    del kept
    try:
        p_time, p_segs = time_pyx12(path)
        print(f"  pyx12 X12Reader (tokenize only):             {p_time:7.2f} s  "
              f"{invoices / p_time:9.0f} docs/s  {p_segs / p_time:10.0f} segments/s  {size_mb / p_time:6.1f} MB/s")
        print(f"  ratio edi/pyx12 time: {e_time / p_time:.2f}  (<1 means edi is faster while also building documents)")
    except Exception as exc:  # pragma: no cover - figures only
        print(f"  pyx12 failed: {type(exc).__name__}: {exc}")

    if args.rss_mb > 0:
        big = tmp / f"bench_810_{args.rss_mb:g}mb.edi"
        if not big.exists():
            write_810_file(big, args.rss_mb, args.lines)
        out = subprocess.run(
            [sys.executable, __file__, "--rss-child", str(big)], capture_output=True, text=True, check=False
        )
        if out.returncode != 0:
            print("  rss child failed:", out.stderr[-2000:])
        else:
            docs, lines, elapsed, base, peak = out.stdout.split()
            print(f"peak RSS parsing {big.stat().st_size / 1024 / 1024:.0f} MB with edi.iter_sets: {peak} MB "
                  f"(interpreter+imports before parsing: {base} MB); {docs} invoices, {lines} lines in {elapsed} s")
    if not args.keep:
        for p in tmp.iterdir():
            p.unlink()
        tmp.rmdir()


if __name__ == "__main__":
    main()
