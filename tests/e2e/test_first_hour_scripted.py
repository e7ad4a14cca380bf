"""The first hour, scripted (issue 10's "done when"): `qbedi init` with a user name of the admin's own,
`check`, `run` as a real process, a mix of files dropped in the inbox as they arrive in real life (good,
a numeric supplier id, empty, a PDF, a half-written one, a reused interchange number), one Web Connector
session: every file visible with the right verdict, the right 997s once, QuickBooks has the bills, and no
command printed a traceback."""
from __future__ import annotations

import json
import os
import subprocess
import time
import uuid

import yaml

from fakes.qbwc_simulator import QBWCSimulator
from tests.support import DATA
from tests.support.builders import make_quickbooks, wait_for, x12, x12_file
from tests.support.processes import QBEDI, serving

PASSWORD = "first-hour-" + uuid.uuid4().hex[:8]
ACCOUNTS = ("Job Materials", "Janitorial Supplies", "Equipment Repairs", "Freight and Delivery", "Discounts Received",
            "Supplies")


def qbedi(*args, env) -> subprocess.CompletedProcess:
    p = subprocess.run([QBEDI, *args], env=env, capture_output=True, text=True, timeout=120)
    assert "Traceback" not in p.stdout + p.stderr, p.stdout + p.stderr
    return p


def test_the_first_hour(tmp_path):
    env = {k: v for k, v in os.environ.items() if k != "QBEDI_CONFIG"} | {"QBEDI_QBWC_PASSWORD": PASSWORD}
    user = f"Books of {uuid.uuid4().hex[:6]}"
    ws = tmp_path / "ws"
    assert qbedi("init", str(ws), "--user", user, env=env).returncode == 0
    cfg = ws / "qbedi.yaml"
    suppliers = yaml.safe_load((DATA / "suppliers.yaml").read_text())
    (ws / "suppliers.yaml").write_text((DATA / "suppliers.yaml").read_text() +
                                       "\n5141231234:\n  vendor: Phone Supply Co\n  default_account: Supplies\n")
    config = yaml.safe_load(cfg.read_text())
    config["sources"][0]["poll"] = {"every": "1s"}  # the admin wants files picked up quickly
    cfg.write_text(yaml.safe_dump(config, sort_keys=False))
    assert qbedi("check", "--config", str(cfg), env=env).returncode == 0
    assert "ACMESUPPLY" in suppliers

    inbox = ws / "inbox"
    good = x12_file("acme_INV-10045.edi")
    reused_icn = x12_file("acme_INV-10046.edi").replace(b"000000102", b"000000101")  # ISA13 of the first file
    numeric = x12("IN", "810", ["BIG*20261121*PH-77", "IT1*1*2*EA*10.00**VN*W-1", "TDS*2000", "CTT*1"],
                  sender="5141231234", ctrl=909)
    half = x12_file("globex_G-2026-0311.edi")
    with serving("run", cfg, env=env) as run:
        (inbox / "good.edi").write_bytes(good)
        (inbox / "numeric.edi").write_bytes(numeric)
        (inbox / "empty.edi").write_bytes(b"")
        (inbox / "scan.pdf").write_bytes(b"%PDF-1.4 scanned invoice")
        with open(inbox / "slow.edi", "wb") as f:  # a partner's upload still arriving
            f.write(half[:200])
            f.flush()
            time.sleep(1.0)
            f.write(half[200:])
        (inbox / "reused.edi").write_bytes(reused_icn)

        def files():
            return json.loads(qbedi("files", "--json", "--config", str(cfg), env=env).stdout)["files"]

        assert wait_for(lambda: len(files()) == 6, 60), files()
        verdicts = {f["name"]: f["verdict"] for f in files()}
        assert verdicts == {"good.edi": "parsed", "numeric.edi": "parsed", "empty.edi": "empty",
                            "scan.pdf": "not_x12", "slow.edi": "parsed", "reused.edi": "parsed"}
        qb = make_quickbooks(vendors=("Acme Industrial Supply", "Globex Corporation", "Phone Supply Co"),
                             accounts=ACCOUNTS)
        session = QBWCSimulator(f"{run.url}/qbwc", user, PASSWORD, qb).run()
        assert session.ended == "closed"
        code, out = run.stop()
    assert code == 0 and "Traceback" not in out
    assert sorted(b.ref_number for b in qb.bills) == ["G-2026-0311", "INV-10045", "INV-10046", "PH-77"]
    docs = json.loads(qbedi("documents", "--json", "--config", str(cfg), env=env).stdout)
    assert {d["status"] for d in docs["documents"]} == {"posted"} and docs["total"] == 4
    acks = sorted(p.name for p in (ws / "outbox").iterdir())
    assert len(acks) == 4 and len(set(acks)) == 4  # one 997 per X12 file, each once
    status = json.loads(qbedi("status", "--json", "--config", str(cfg), env=env).stdout)
    assert status["files"] == {"parsed": 4, "empty": 1, "not_x12": 1}
