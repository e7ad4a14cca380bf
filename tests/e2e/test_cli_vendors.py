"""The CLI twins of vendor reconciliation and supplier records: qbedi vendors reconcile|map|unmap, qbedi
suppliers (--json, --csv)."""
import csv
import io
import json

from qbedi.cli import main
from tests.support.builders import SUPPLIERS, write_config, x12_file


def _json(capsys, argv):
    code = main(argv)
    return code, json.loads(capsys.readouterr().out)


def test_reconcile_map_and_suppliers_from_the_command_line(tmp_path, db_url, capsys):
    (tmp_path / "suppliers.yaml").write_text("# our suppliers\n" + __import__("yaml").safe_dump(SUPPLIERS))
    cfg = str(write_config(tmp_path, db_url, suppliers={}, suppliers_file="suppliers.yaml"))
    for name in ("acme_INV-10045.edi", "initech_88812.edi"):
        (tmp_path / "inbox" / name).write_bytes(x12_file(name))
    assert main(["poll", "--once", "--config", cfg]) == 0
    capsys.readouterr()

    code, out = _json(capsys, ["vendors", "reconcile", "--json", "--config", cfg])
    by = {(r["status"], r.get("supplier_id") or r.get("key")): r for r in out["vendors"]}
    assert code == 0 and ("mapped", "ACMESUPPLY") in by and ("unmapped", "INITECHEDI") in by
    assert main(["vendors", "reconcile", "--config", cfg]) == 0
    assert "UNMAPPED  INITECHEDI" in capsys.readouterr().out

    assert main(["vendors", "map", "INITECHEDI", "--config", cfg]) == 2  # no vendor named: says how
    assert "qbedi vendors map SUPPLIER_ID" in capsys.readouterr().err
    code, out = _json(capsys, ["vendors", "map", "INITECHEDI", "Initech", "--default-account", "Repairs", "--json",
                               "--config", cfg])
    assert code == 0 and out["created"] is True
    text = (tmp_path / "suppliers.yaml").read_text()
    assert text.startswith("# our suppliers\n") and "INITECHEDI" in text and "Repairs" in text
    assert main(["vendors", "map", "INITECHEDI", "Initech", "--company", "nobody", "--config", cfg]) == 2
    assert "nothing was changed" in capsys.readouterr().err and (tmp_path / "suppliers.yaml").read_text() == text

    code, out = _json(capsys, ["suppliers", "--json", "--config", cfg])
    rows = {r["supplier_id"]: r for r in out["suppliers"]}
    assert rows["ACMESUPPLY"]["documents"] == 1 and rows["INITECHEDI"]["vendor"] == "Initech"
    assert main(["suppliers", "--csv", "--config", cfg]) == 0
    table = list(csv.DictReader(io.StringIO(capsys.readouterr().out)))
    assert {r["supplier_id"] for r in table} >= {"ACMESUPPLY", "INITECHEDI", "GLOBEX-77"}

    code, out = _json(capsys, ["vendors", "unmap", "INITECHEDI", "--json", "--config", cfg])
    assert code == 0 and "INITECHEDI" not in (tmp_path / "suppliers.yaml").read_text()
    assert main(["vendors", "map", "INITECHEDI", "Initech", "--config", cfg]) == 0  # in words: what to do next
    assert "Its held documents: qbedi release --all --supplier INITECHEDI" in capsys.readouterr().out
    assert main(["vendors", "unmap", "INITECHEDI", "--config", cfg]) == 0
    said = capsys.readouterr().out
    assert "its new documents are held as unknown_supplier" in said and "release" not in said
    assert main(["vendors", "unmap", "INITECHEDI", "--config", cfg]) == 2
    assert "no such supplier" in capsys.readouterr().err


def test_a_supplier_mapped_by_its_n1_id_finds_its_held_documents(tmp_path, db_url, capsys):
    """Seen by an admin: `qbedi vendors map INITECH ...` (the N1 id the held message listed among "ids seen"),
    then the command it suggested, `qbedi release --all --supplier INITECH`: "No held or failed document
    matches" (only the ISA sender, INITECHEDI, was compared)."""
    (tmp_path / "suppliers.yaml").write_text(__import__("yaml").safe_dump(SUPPLIERS))
    cfg = str(write_config(tmp_path, db_url, suppliers={}, suppliers_file="suppliers.yaml"))
    (tmp_path / "inbox" / "initech_88812.edi").write_bytes(x12_file("initech_88812.edi"))
    assert main(["poll", "--once", "--config", cfg]) == 0
    assert main(["vendors", "map", "INITECH", "Initech Parts", "--default-account", "Repairs", "--config", cfg]) == 0
    assert "Its held documents: qbedi release --all --supplier INITECH" in capsys.readouterr().out
    assert main(["release", "--all", "--supplier", "INITECH", "--config", cfg]) == 0
    assert "Translated again 1 of 1 document(s) with the mapping as it is now: 1 queued" in capsys.readouterr().out
    code, out = _json(capsys, ["show", "1", "--json", "--config", cfg])
    assert out["status"] == "queued" and "INITECH" in str(out.get("supplier")), out
