"""The qbedi command line: translate --json contract, init, qwc, review commands."""
import json
import os
import subprocess
import sys
from pathlib import Path

from lxml import etree

from qbedi.cli import main
from connector.settings import load_settings
from tests.support import corpus_files, own_x12_files
from tests.support.builders import x12_file, write_config

DOC_KEYS = {"file", "transaction_set", "version", "interchange_control", "group_control", "set_control",
            "sender_id", "document_number", "document_date", "due_date", "supplier", "currency", "total", "credit",
            "lines", "charges", "status", "holds", "qbxml"}
LINE_KEYS = {"line_number", "quantity", "unit", "unit_price", "amount", "vendor_part", "description", "po_number"}


def run_json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_translate_json_contract_over_the_whole_corpus(capsys):
    """The whole public corpus from ../shared when it is there, else its part in tests/data/corpus."""
    check_translate_json_contract(capsys, [str(p) for p in corpus_files()])


def test_translate_json_contract_over_the_tests_own_files(capsys):
    check_translate_json_contract(capsys, [str(p) for p in own_x12_files()])


def check_translate_json_contract(capsys, files):
    code, out = run_json(capsys, ["translate", "--json", *files])
    assert code == 0
    assert set(out) == {"documents", "errors"}
    assert {d["file"] for d in out["documents"]} | {e["file"] for e in out["errors"]} == set(files)
    for d in out["documents"]:
        assert set(d) >= DOC_KEYS
        assert d["status"] in ("ready", "held", "rejected")
        assert d["status"] == "ready" or d["holds"]
        assert set(d["supplier"]) == {"id", "name"}
        for ln in d["lines"]:
            assert set(ln) >= LINE_KEYS
        if d["total"] is not None:
            assert len(d["total"].split(".")[1]) == 2
        for c in d["charges"]:
            assert set(c) == {"code", "description", "amount", "line", "counted"}  # (line: a line's charge)


def test_translate_json_pins_one_document(tmp_path, capsys):
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'x.db'}")
    f = tmp_path / "inv.edi"
    f.write_bytes(x12_file("globex_G-2026-0311.edi"))
    code, out = run_json(capsys, ["translate", "--json", "--config", str(cfg), str(f)])
    [d] = out["documents"]
    assert code == 0 and out["errors"] == []
    assert (d["transaction_set"], d["version"], d["interchange_control"], d["group_control"], d["set_control"]) == \
        ("810", "004010", "000005501", "5501", "0001")
    assert d["sender_id"] == "GLOBEXEDI" and d["supplier"] == {"id": "GLOBEX-77", "name": "Globex Corporation"}
    assert (d["document_date"], d["due_date"], d["total"], d["currency"], d["credit"]) == \
        ("2026-11-17", "2027-01-01", "202.00", "USD", False)
    assert d["lines"][0] == {"line_number": "1", "quantity": "120", "unit": "EA", "unit_price": "1.15",
                             "amount": "138.00", "vendor_part": "GX-5", "description": "NITRILE GLOVES M",
                             "po_number": "PO-7802"}
    assert d["status"] == "ready" and d["holds"] == []
    assert etree.fromstring(d["qbxml"].encode()).find(".//BillAddRq") is not None


def test_translate_unreadable_file_exits_1_but_reports_the_rest(tmp_path, capsys):
    good = tmp_path / "good.edi"
    good.write_bytes(x12_file("initech_88812.edi"))
    code, out = run_json(capsys, ["translate", "--json", str(good), str(tmp_path / "missing.edi")])
    assert code == 1
    assert out["errors"] == [{"file": str(tmp_path / "missing.edi"), "code": "unreadable",
                              "message": "cannot read the file: No such file or directory"}]
    assert out["documents"][0]["status"] == "held"


def test_translate_garbage_is_an_error_entry_not_a_crash(tmp_path, capsys):
    junk = tmp_path / "junk.edi"
    junk.write_bytes(b"\x00\xff not x12")
    code, out = run_json(capsys, ["translate", "--json", str(junk)])
    assert code == 0 and out["documents"] == [] and out["errors"][0]["file"] == str(junk)


def test_review_commands_show_held_documents_and_audit(tmp_path, capsys):
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    (tmp_path / "inbox" / "i.edi").write_bytes(x12_file("initech_88812.edi"))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    code, out = run_json(capsys, ["poll", "--once", "--json", "--config", str(cfg)])
    assert code == 0 and out["polls"][0]["listed"] == 2
    code, out = run_json(capsys, ["documents", "--status", "held", "--json", "--config", str(cfg)])
    [held] = out["documents"]
    assert held["reason_code"] == "unknown_supplier" and held["document_number"] == "88812"
    code, out = run_json(capsys, ["show", str(held["id"]), "--json", "--config", str(cfg)])
    assert [e["kind"] for e in out["audit"]] == ["received", "translated", "held"]  # from the file on
    assert out["audit"][0]["file"] == "i.edi" and out["waiting"] is None  # held: not waiting on QuickBooks
    assert out["company"] is None  # (no supplier answers to its sender: no company's yet)
    code, out = run_json(capsys, ["documents", "--status", "queued", "--json", "--config", str(cfg)])
    code, out = run_json(capsys, ["show", str(out["documents"][0]["id"]), "--json", "--config", str(cfg)])
    assert out["company"] == "clerk" and out["status"] == "queued"
    code, out = run_json(capsys, ["status", "--json", "--config", str(cfg)])
    assert out["documents"] == {"held": 1, "queued": 1}
    assert out["sources"][0]["name"] == "inbox" and out["sources"][0]["consecutive_failures"] == 0


def test_release_all_after_the_supplier_is_mapped(tmp_path, capsys):
    """A supplier's file came before its mapping; the admin maps it and releases all its held documents in one
    command (JSON for a script, words for a person); a misuse is refused in words before anything is read."""
    from tests.support.builders import interchange

    db = f"sqlite:///{tmp_path / 'q.db'}"
    cfg = str(write_config(tmp_path, db, suppliers={}))
    (tmp_path / "inbox" / "a.edi").write_bytes(interchange(["INV-1", "INV-2", "INV-3"]))
    (tmp_path / "inbox" / "i.edi").write_bytes(x12_file("initech_88812.edi"))
    run_json(capsys, ["poll", "--once", "--json", "--config", cfg])
    for argv, says in ((["release"], "name one document"), (["release", "1", "--supplier", "X"],
                                                             "--supplier narrow --all"),
                       (["release", "1", "--all"], "not both"),
                       (["release", "--all", "--supplier", "NOPE"], "no supplier 'NOPE' in the suppliers configuration"),
                       (["release", "--all", "--not-duplicate"], "for one document"),
                       (["release", "--all", "--held-for", "nonsense"], "no reason code 'nonsense'; the codes are:"),
                       (["release", "--all", "--company", "nobody"], "no Web Connector user 'nobody'"),
                       (["release", "--all", "--since", "May"], "'May' is not a date (YYYY-MM-DD)")):
        assert main([*argv, "--config", cfg]) == 2, argv
        assert says in capsys.readouterr().err, argv

    write_config(tmp_path, db)  # the admin maps Acme (the tests' own mapping; Initech stays unknown)
    code, out = run_json(capsys, ["release", "--all", "--held-for", "unknown_supplier", "--json", "--config", cfg])
    assert code == 0 and out.pop("last") > 0
    assert out == {"matched": 4, "released": 4, "counts": {"queued": 3, "held": 1},
                   "held_for": {"unknown_supplier": 1}, "not_released": 0, "failed": [], "elsewhere": 0, "left": 0}
    assert main(["release", "--all", "--supplier", "-", "--config", cfg]) == 0
    assert capsys.readouterr().out == ("Translated again 1 of 1 document(s) with the mapping as it is now: 1 "
                                       "still held (why: unknown supplier: 1).\n")
    _, out = run_json(capsys, ["documents", "--status", "held", "--json", "--config", cfg])
    [held] = out["documents"]
    code, out = run_json(capsys, ["release", str(held["id"]), "--json", "--config", cfg])
    assert code == 0 and out["status"] == "held" and [h["code"] for h in out["holds"]] == ["unknown_supplier"]
    code, out = run_json(capsys, ["release", "999", "--json", "--config", cfg])  # (JSON for a script either way)
    assert code == 1 and out == {"id": 999, "ok": False, "error": "no document #999"}
    code, out = run_json(capsys, ["show", "999", "--json", "--config", cfg])
    assert code == 1 and out == {"id": 999, "ok": False, "error": "no document #999"}


def test_a_command_acting_on_documents_prints_only_its_report_on_stdout(tmp_path):
    """As a process: a command that does not set up logging itself logs at warning level to stderr, so its
    stdout is its report (``release --all --json`` printed a log line per document queued before its JSON)."""
    db = f"sqlite:///{tmp_path / 'q.db'}"
    cfg = str(write_config(tmp_path, db, suppliers={}))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))

    def qbedi(*argv):
        return subprocess.run([sys.executable, "-m", "qbedi.cli", *argv, "--config", cfg], capture_output=True,
                              text=True, cwd=tmp_path, timeout=120)

    assert qbedi("poll", "--once").returncode == 0
    write_config(tmp_path, db)  # the admin maps Acme
    done = qbedi("release", "--all", "--json")
    assert done.returncode == 0 and json.loads(done.stdout)["counts"] == {"queued": 1}
    assert "document.queued" not in done.stdout + done.stderr


def test_init_writes_a_workspace_that_loads(tmp_path, monkeypatch, capsys):
    monkeypatch.setenv("QBEDI_QBWC_PASSWORD", "s3cret-pass")
    ws = tmp_path / "ws"
    # an address the Web Connector refuses: one line, and nothing written (was a traceback and a half-made
    # workspace that a second init then refused as "already exists")
    assert main(["init", str(ws), "--user", "northwind", "--url", "http://127.0.0.1:8123/qbwc"]) == 2
    err = capsys.readouterr().err
    assert "must use a host name, not the IP address 127.0.0.1" in err and "nothing was written" in err
    assert not ws.exists()
    assert main(["init", str(ws), "--user", "northwind", "--port", "8123"]) == 0
    s = load_settings(ws / "qbedi.yaml")
    assert s.user("northwind") is not None
    assert s.database_url == f"sqlite:///{ws / 'qbedi.db'}"
    assert s.resolve(s.sources[0].path) == ws / "inbox" and (ws / "inbox").is_dir()
    assert "s3cret-pass" not in (ws / "qbedi.yaml").read_text()
    from connector.passwords import verify_password

    assert verify_password("s3cret-pass", s.user("northwind").password_hash)
    qwc = etree.parse(str(ws / "northwind.qwc")).getroot()
    assert qwc.tag == "QBWCXML" and qwc.findtext("UserName") == "northwind"
    assert qwc.findtext("AppURL") == "http://localhost:8123/qbwc"
    assert "company file: not given (--company-file)" in capsys.readouterr().out
    assert main(["init", str(ws)]) == 2  # never overwrites
    assert main(["check", "--config", str(ws / "qbedi.yaml")]) == 0
    assert "warning: Web Connector user northwind: company_file is empty" in capsys.readouterr().out

    other = tmp_path / "ws2"  # with the company file: in the config and the .qwc, and nothing to warn of
    assert main(["init", str(other), "--user", "south", "--company-file", r"C:\QB\South.qbw"]) == 0
    assert load_settings(other / "qbedi.yaml").user("south").company_file == r"C:\QB\South.qbw"
    from qbwc_server.qwc import file_id_for

    assert etree.parse(str(other / "south.qwc")).getroot().findtext("FileID") == file_id_for("south", r"C:\QB\South.qbw")
    capsys.readouterr()
    assert main(["check", "--config", str(other / "qbedi.yaml")]) == 0 and "warning" not in capsys.readouterr().out


def test_console_script_is_installed():
    exe = Path(sys.executable).with_name("qbedi")
    assert exe.exists(), "pip install -e . should install the qbedi console script"
    out = subprocess.run([str(exe), "--version"], capture_output=True, text=True, env={**os.environ}, timeout=60)
    assert out.returncode == 0 and out.stdout.startswith("qbedi ")


def test_qwc_command_writes_a_file_qbwc_accepts(tmp_path, capsys):
    out = tmp_path / "clerk.qwc"
    assert main(["qwc", "--url", "https://qbedi.example.com/qbwc", "--user", "clerk", "-o", str(out)]) == 0
    root = etree.parse(str(out)).getroot()
    assert root.tag == "QBWCXML"
    for tag in ("AppName", "AppID", "AppURL", "AppDescription", "AppSupport", "UserName", "OwnerID", "FileID",
                "QBType", "Scheduler"):
        assert root.find(tag) is not None, tag
    assert root.findtext("AppURL") == "https://qbedi.example.com/qbwc"
    assert root.findtext("QBType") == "QBFS" and root.findtext("Scheduler/RunEveryNMinutes") == "5"
    owner, file_id = root.findtext("OwnerID"), root.findtext("FileID")
    assert owner.startswith("{") and owner.endswith("}") and len(owner) == 38
    # stable: writing it again gives the same GUIDs (QBWC keys the app on them)
    again = tmp_path / "again.qwc"
    main(["qwc", "--url", "https://qbedi.example.com/qbwc", "--user", "clerk", "-o", str(again)])
    assert etree.parse(str(again)).getroot().findtext("FileID") == file_id
    capsys.readouterr()
    # plain http to another host is refused: QBWC would reject it
    assert main(["qwc", "--url", "http://qbedi.example.com/qbwc", "--user", "clerk"]) == 2
    assert "https" in capsys.readouterr().err


def test_dismiss_closes_a_held_document_with_its_reason(tmp_path, capsys):
    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    (tmp_path / "inbox" / "i.edi").write_bytes(x12_file("initech_88812.edi"))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    run_json(capsys, ["poll", "--once", "--json", "--config", str(cfg)])
    _, out = run_json(capsys, ["documents", "--json", "--config", str(cfg)])
    ids = {d["document_number"]: d["id"] for d in out["documents"]}
    assert main(["dismiss", str(ids["INV-10045"]), "--reason", "x", "--config", str(cfg)]) == 1  # queued: no
    assert "only held" in capsys.readouterr().err
    code, said = run_json(capsys, ["dismiss", str(ids["INV-10045"]), "--reason", "x", "--json", "--config", str(cfg)])
    assert code == 1 and said["ok"] is False and "only held" in said["error"]  # (for a script: JSON either way)
    code, said = run_json(capsys, ["dismiss", str(ids["88812"]), "--reason", "entered by hand", "--json",
                                   "--config", str(cfg)])
    assert code == 0 and said == {"id": ids["88812"], "ok": True, "status": "dismissed", "reason": "entered by hand"}
    _, out = run_json(capsys, ["show", str(ids["88812"]), "--json", "--config", str(cfg)])
    assert out["status"] == "dismissed" and out["reason"] == "entered by hand"
    assert out["audit"][-1]["kind"] == "dismissed" and out["audit"][-1]["previous_reason"]


def test_help_and_version_load_none_of_the_heavy_modules():
    """`qbedi --help` answers at once: the settings models (pydantic), the database (SQLAlchemy), the SOAP stack
    (spyne), lxml and the runtime are imported when a command runs, not to print help (bench: 1.9x a bare
    interpreter, bench/RESULTS.md)."""
    probe = ("import contextlib, io, sys\n"
             "from qbedi.cli import main\n"
             "for argv in (['--help'], ['--version'], ['translate', '--help']):\n"
             "    with contextlib.redirect_stdout(io.StringIO()):\n"
             "        try:\n"
             "            main(argv)\n"
             "        except SystemExit:\n"
             "            pass\n"
             "heavy = ('pydantic', 'sqlalchemy', 'spyne', 'lxml', 'connector.settings', 'qbedi.runtime', 'edi')\n"
             "print(sorted(m for m in sys.modules if m.split('.')[0] in heavy or m in heavy))\n")
    out = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout
    assert out.strip() == "[]", out


def test_only_a_process_of_its_own_sets_its_startup_objects_aside_from_the_collector(tmp_path, capsys):
    """`qbedi translate` / `poll` / `run` freeze what they started with (gc.freeze: full collections then skip
    it); called inside another program (here, pytest) they leave that program's objects alone."""
    import gc

    path = tmp_path / "acme.edi"
    path.write_bytes(x12_file("acme_INV-10045.edi"))
    before = gc.get_freeze_count()
    assert main(["translate", str(path)]) == 0
    assert gc.get_freeze_count() == before
    probe = ("import gc, sys; from qbedi.cli import main; sys.argv = ['qbedi', 'translate', sys.argv[1]]; "
             "code = main(); print(code, gc.get_freeze_count(), file=sys.stderr)")
    out = subprocess.run([sys.executable, "-c", probe, str(path)], capture_output=True, text=True, check=True)
    code, frozen = out.stderr.split()[-2:]
    assert code == "0" and int(frozen) > 10_000 and "INV-10045" in out.stdout

    # a file parsed whole: no collection while it is parsed (a collection at every allocation otherwise), the
    # collector on again after it
    probe = ("import gc, sys, edi\nfrom qbedi.cli import main\nseen, real = [], edi.parse_bytes\n"
             "def note(phase, info):\n    seen.append(info['generation']) if phase == 'start' else None\n"
             "def parse(data):\n    gc.callbacks.append(note)\n    try:\n        return real(data)\n"
             "    finally:\n        gc.callbacks.remove(note)\n"
             "edi.parse_bytes = parse\ngc.set_threshold(1, 1, 1)\nsys.argv = ['qbedi', 'translate', sys.argv[1]]\n"
             "code = main()\nprint(code, len(seen), gc.isenabled(), file=sys.stderr)\n")
    for own in (True, False):
        run = probe if own else probe.replace("code = main()", "code = main(sys.argv[1:])")
        out = subprocess.run([sys.executable, "-c", run, str(path)], capture_output=True, text=True, check=True)
        code, collections, enabled = out.stderr.split()[-3:]
        assert (code, enabled) == ("0", "True") and (int(collections) == 0) == own, (own, out.stderr[-300:])


def test_status_does_not_give_a_live_web_connector_ticket(tmp_path, capsys):
    """A Web Connector session's ticket works as a password while the session lasts: `qbedi status --json`
    names it by its first 8 characters (as the log does), never whole."""
    from datetime import timedelta

    from connector.store import Store
    from connector.tickets import SharedSessions

    cfg = write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}")
    ticket = "{6f1c2a9e-93b4-4c1d-8e2f-0a1b2c3d4e5f}"
    store = Store(load_settings(cfg).database_url)
    store.migrate()
    SharedSessions(store, timedelta(minutes=30)).claim(ticket=ticket, username="clerk", company_file="", qbxml_version="13.0")
    store.dispose()
    capsys.readouterr()
    code, out = run_json(capsys, ["status", "--json", "--config", str(cfg)])
    [qb] = out["quickbooks"]
    assert code == 0 and qb["info"]["session"]["ticket"] == ticket[:8] + "..."
    assert ticket not in json.dumps(out)


def test_documents_of_one_company(tmp_path, capsys):
    """Several companies: `qbedi documents --company U` lists what U's clerks see (a held document by its supplier's
    company), and the text names each document's company."""
    from tests.support.builders import PASSWORD_HASH, SUPPLIERS

    users = [{"username": "north", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\North.qbw"},
             {"username": "south", "password_hash": PASSWORD_HASH, "company_file": r"C:\QB\South.qbw"}]
    sups = {"ACMESUPPLY": {**SUPPLIERS["ACMESUPPLY"], "company": "north"},
            "GLOBEX-77": {**SUPPLIERS["GLOBEX-77"], "company": "south"}}
    cfg = str(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", users=users, suppliers=sups))
    for name in ("acme_INV-10045.edi", "globex_G-2026-0311.edi", "initech_88812.edi"):
        (tmp_path / "inbox" / name).write_bytes(x12_file(name))
    run_json(capsys, ["poll", "--once", "--json", "--config", cfg])
    code, out = run_json(capsys, ["documents", "--company", "North", "--json", "--config", cfg])
    assert code == 0 and [(d["document_number"], d["company"]) for d in out["documents"]] == [("INV-10045", "north")]
    assert main(["documents", "--config", cfg]) == 0
    text = capsys.readouterr().out
    assert "north" in text and "south" in text  # (a company column when there are several)
    assert main(["documents", "--company", "west", "--config", cfg]) == 2
    assert "no Web Connector user 'west'" in capsys.readouterr().err


def test_a_file_of_many_documents_is_one_short_line_in_files_and_its_documents_a_command_away(tmp_path, capsys):
    """Seen: `qbedi files` printed a 4,245-invoice file's documents on one 127,434-character line (254 KB for
    one listing), and the web page listed them all in one cell."""
    from tests.support.builders import interchange

    cfg = str(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}"))
    (tmp_path / "inbox" / "many.edi").write_bytes(interchange([f"INV-{n}" for n in range(1, 31)]))
    (tmp_path / "inbox" / "one.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    run_json(capsys, ["poll", "--once", "--json", "--config", cfg])
    assert main(["files", "--config", cfg]) == 0
    lines = capsys.readouterr().out.splitlines()
    [many] = [ln for ln in lines if "many.edi" in ln]
    assert "#1 810 INV-1 queued, #2 810 INV-2 queued, #3 810 INV-3 queued and 27 more (qbedi documents --file" in many
    assert len(many) < 250
    code, out = run_json(capsys, ["files", "--json", "--config", cfg])
    [f] = [x for x in out["files"] if x["name"] == "many.edi"]
    assert f["document_count"] == 30 and [d["document_number"] for d in f["documents"]] == [f"INV-{n}" for n in range(1, 21)]
    code, out = run_json(capsys, ["documents", "--file", str(f["id"]), "--json", "--config", cfg])
    assert code == 0 and out["total"] == 30 and {d["file"] for d in out["documents"]} == {"many.edi"}


def test_status_runs_while_the_suppliers_file_does_not_read(tmp_path, capsys):
    """Seen: a typo in suppliers.yaml made `qbedi status` refuse to run, though the daemon carried on with the
    last mapping that read: status is what an admin runs when something is wrong."""
    import yaml

    from tests.support.builders import SUPPLIERS

    (tmp_path / "suppliers.yaml").write_text(yaml.safe_dump(SUPPLIERS))
    cfg = str(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}", suppliers={}, suppliers_file="suppliers.yaml"))
    (tmp_path / "inbox" / "a.edi").write_bytes(x12_file("acme_INV-10045.edi"))
    run_json(capsys, ["poll", "--once", "--json", "--config", cfg])
    (tmp_path / "suppliers.yaml").write_text("ACMESUPPLY: {vendor: Acme, default_acount: Job Materials}\n")
    code, out = run_json(capsys, ["status", "--json", "--config", cfg])
    assert code == 0 and out["documents"]["queued"] == 1, out
    assert main(["status", "--config", cfg]) == 0
    err = capsys.readouterr().err
    assert "warning: the suppliers file does not read" in err and "default_acount" in err
    (tmp_path / "qbedi.yaml").write_text((tmp_path / "qbedi.yaml").read_text() + "\nbogus_key: 1\n")
    assert main(["status", "--config", cfg]) == 2  # (the config itself: as before, one line)
    assert "bogus_key" in capsys.readouterr().err


def test_show_of_a_ship_notice_says_no_total_and_names_its_item_by_place(tmp_path, capsys):
    """Seen: `qbedi show` of a ship notice printed "total None", and its hold named "item ?" (no LIN01)."""
    cfg = str(write_config(tmp_path, f"sqlite:///{tmp_path / 'q.db'}"))
    (tmp_path / "inbox" / "asn.edi").write_bytes(x12_file("acme_ASN-5001.edi"))
    run_json(capsys, ["poll", "--once", "--json", "--config", cfg])
    assert main(["show", "1", "--config", cfg]) == 0
    out = capsys.readouterr().out
    assert "None" not in out and "856 ASN-5001 -> held" in out, out
    assert "item ?" not in out and "item 2 for PO PO-7781 comes as 4 CA" in out, out
