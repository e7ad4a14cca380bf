"""`qbedi poll --once` of one file with two (or more) checkouts of qbedi, alternately, in the same run.

    python bench/poll_ab.py TREE[,TREE...] FILE [--rounds 3]

Each TREE is a checkout of this repository (e.g. ``git worktree add /tmp/old <commit>``); its bytecode is
written first (as ``pip install`` leaves it). Each round polls FILE once with every tree in turn: a fresh
SQLite store migrated by that tree, a folder source holding only FILE, the default log level to a file
(bench/ingest.py's config), the tree's code first on PYTHONPATH, this venv's ``qbedi``. Prints each wall time
with the load average, then the best and all times per tree. Only times taken in the same run compare.
"""
from __future__ import annotations

import argparse
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

from edi_parse import PACKAGES  # noqa: E402
from ingest import write_config  # noqa: E402


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("trees", help="checkouts, comma separated")
    ap.add_argument("file", type=Path)
    ap.add_argument("--rounds", type=int, default=3)
    args = ap.parse_args()
    trees = [str(Path(t).resolve()) for t in args.trees.split(",")]
    qbedi = str(Path(sys.executable).with_name("qbedi"))
    for tree in trees:
        subprocess.run([sys.executable, "-m", "compileall", "-q", *(f"{tree}/{p}" for p in PACKAGES)], check=True,
                       stdout=subprocess.DEVNULL)
    times: dict[str, list[float]] = {t: [] for t in trees}
    for _ in range(args.rounds):
        for tree in trees:
            work = Path(tempfile.mkdtemp(prefix="qbedi_ab_"))
            try:
                url = f"sqlite:///{work / 'q.db'}"
                env = dict(os.environ, PYTHONPATH=tree)
                subprocess.run([sys.executable, "-c", "import sys; from connector.store import Store; "
                                "Store(sys.argv[1]).migrate()", url], env=env, check=True)
                config = write_config(work, url)
                shutil.copy(args.file, work / "inbox" / args.file.name)
                t0 = time.perf_counter()
                subprocess.run([qbedi, "poll", "--once", "--config", str(config)], env=env, check=True,
                               stdout=subprocess.DEVNULL)
                times[tree].append(time.perf_counter() - t0)
                print(f"{tree}: {times[tree][-1]:.1f} s  [load {os.getloadavg()[0]:.2f}]", flush=True)
            finally:
                shutil.rmtree(work, ignore_errors=True)
    for tree, xs in times.items():
        print(f"{tree}: best {min(xs):.1f} s, all {', '.join(f'{x:.1f}' for x in xs)}")


if __name__ == "__main__":
    main()
