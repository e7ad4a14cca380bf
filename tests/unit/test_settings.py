import os

import pytest
from pydantic import BaseModel, ConfigDict

from connector import sources
from connector.settings import AdapterSourceSettings, ConfigError, Settings, load_settings, parse_duration
from qbedi.cli import main
from tests.support import REPO


def test_defaults_are_usable():
    s = Settings()
    assert s.database.url == "sqlite:///./qbedi.db"
    assert s.sources[0].type == "folder" and s.sources[0].path == "./inbox"
    assert s.web_connector.batch_budget_seconds == 45


def test_example_config_loads_with_its_suppliers_file():
    s = load_settings(REPO / "config" / "qbedi.example.yaml")
    assert s.web_connector.users[0].username == "northwind"
    assert s.suppliers["ACMESUPPLY"].vendor == "Acme Industrial Supply"
    assert s.suppliers["ACMESUPPLY"].charge_accounts["D240"] == "Freight and Delivery"
    assert s.suppliers["GLOBEX-77"].terms_days == 45
    # relative paths resolve against the config's folder, not the cwd
    assert s.resolve(s.sources[0].path) == (REPO / "config" / "inbox")


def test_packaged_example_is_the_documented_one():
    assert (REPO / "config" / "qbedi.example.yaml").read_bytes() == \
        (REPO / "qbedi" / "data" / "qbedi.example.yaml").read_bytes()


@pytest.mark.parametrize("text, key, line, words", [
    ("web_connector:\n  listen:\n    port: 99999\n", "web_connector.listen.port", 3, "less than or equal"),
    ("database:\n  ur1: sqlite:///x.db\n", "database.ur1", 2, "unknown key"),
    ("sources:\n  - name: a\n    type: folder\n    poll: {every: soon}\n", "sources.0.poll.every", 4, "duration"),
    ("web_connector:\n  users:\n    - username: bob\n      password_hash: hunter2\n",
     "web_connector.users.0.password_hash", 4, "never a plain password"),
    ("suppliers:\n  ACME:\n    default_account: X\n", "suppliers.ACME.vendor", 2, "missing"),
])
def test_invalid_config_names_file_line_and_key(tmp_path, text, key, line, words):
    path = tmp_path / "bad.yaml"
    path.write_text(text)
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    err = exc.value
    assert err.key == key
    assert err.line == line
    assert words in str(err)
    assert str(path) in str(err)


def test_yaml_syntax_error_has_a_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("database:\n  url: [unclosed\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert exc.value.line is not None and "not valid YAML" in str(exc.value)


def test_supplier_file_errors_point_into_that_file(tmp_path):
    (tmp_path / "sup.yaml").write_text("ACME:\n  vendor: Acme\n  line_rules:\n    - {account: X}\n")
    (tmp_path / "q.yaml").write_text("suppliers_file: sup.yaml\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(tmp_path / "q.yaml")
    assert exc.value.file.endswith("sup.yaml")
    assert exc.value.key.startswith("ACME.line_rules.0")
    assert "needs one of" in str(exc.value)


def test_cli_exits_2_with_one_clear_message(tmp_path, capsys):
    path = tmp_path / "bad.yaml"
    path.write_text("logging:\n  level: LOUD\n")
    assert main(["check", "--config", str(path)]) == 2
    err = capsys.readouterr().err
    assert err.count("\n") == 1 and "logging.level" in err and "line 2" in err


def test_missing_config_file(tmp_path, capsys):
    assert main(["check", "--config", str(tmp_path / "nope.yaml")]) == 2
    assert "file not found" in capsys.readouterr().err


@pytest.mark.parametrize("value, seconds", [("30s", 30), ("5m", 300), ("2h", 7200), (90, 90), ("1d", 86400)])
def test_durations(value, seconds):
    assert parse_duration(value) == seconds


def test_no_jitter_and_no_wait_may_be_said_in_any_unit_but_a_poll_needs_a_pause(tmp_path):
    """Seen: `poll: {jitter: 0s}` was refused ("expected a duration ... got '0s'") while `jitter: 0` was taken;
    and `every: 0` was taken by `qbedi check`, then failed when the poll was scheduled."""
    for zero in (0, "0", "0s", "0m", " 0 h"):
        assert parse_duration(zero, zero=True) == 0
    cfg = tmp_path / "q.yaml"
    cfg.write_text("sources:\n  - {type: folder, poll: {every: 1m, jitter: 0s}, incomplete_wait: 0m}\n")
    [src] = load_settings(cfg).sources
    assert (src.poll.jitter_seconds, src.poll.every_seconds, src.incomplete_wait_seconds) == (0, 60, 0)
    for bad in ("every: 0", "every: 0s", "jitter: -1s", "jitter: soon"):
        cfg.write_text(f"sources:\n  - {{type: folder, poll: {{{bad}}}}}\n")
        with pytest.raises(ConfigError, match="expected a duration like 30s"):
            load_settings(cfg)
    with pytest.raises(ValueError):
        parse_duration(True, zero=True)  # (a YAML yes is not a number of seconds)


def test_sqlite_url_is_relative_to_config(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("database:\n  url: sqlite:///./data/q.db\n")
    assert load_settings(path).database_url == f"sqlite:///{tmp_path}/data/q.db"


@pytest.mark.parametrize("entry, key, line, words", [
    ("  - name: x\n    type: nosuch\n", "sources.1.type", 5, "unknown source type 'nosuch' (known types: folder, cleo)"),
    ("  - name: x\n    path: ./in\n", "sources.1", 4, "a mapping with a type: key (known types: folder, cleo)"),
    ("  - x\n", "sources.1", 4, "a mapping with a type: key"),
    ("  - type: cleo\n    host: h\n    acknowlege: delete\n", "sources.1.acknowlege", 6, "unknown key"),
])
def test_source_type_errors_name_the_line(tmp_path, entry, key, line, words):
    path = tmp_path / "q.yaml"
    path.write_text("sources:\n  - type: folder\n    path: ./in\n" + entry)
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert (exc.value.key, exc.value.line) == (key, line) and words in str(exc.value)


class DropSettings(BaseModel):
    model_config = ConfigDict(extra="forbid")
    url: str
    retries: int = 1


def test_an_adapter_registers_its_source_type(tmp_path, monkeypatch):
    monkeypatch.setattr(sources, "_SOURCE_TYPES", {})
    built = []
    sources.register_source_type("drop", DropSettings, lambda settings, cfg: built.append((settings, cfg)) or cfg.name)
    assert sources.source_type_names() == ["folder", "drop"]
    path = tmp_path / "q.yaml"
    path.write_text("sources:\n  - type: drop\n    url: x\n    retries: many\n")
    with pytest.raises(ConfigError) as exc:
        load_settings(path)
    assert (exc.value.key, exc.value.line) == ("sources.0.retries", 4) and "integer" in str(exc.value)

    path.write_text("sources:\n  - type: drop\n    url: x\n    poll: {every: 1m}\n")
    settings = load_settings(path)
    cfg = settings.sources[0]
    assert isinstance(cfg, AdapterSourceSettings) and cfg.name == "drop" and cfg.poll.every_seconds == 60
    assert cfg.options() == {"url": "x"}
    assert sources.build_source(settings, cfg) == "drop" and built == [(settings, cfg)]
    with pytest.raises(ValueError):
        sources.register_source_type("folder", DropSettings, lambda settings, cfg: None)


def test_ids_are_read_as_the_text_typed(tmp_path):
    """DUNS and phone numbers, leading zeros, YAML 1.1 octal and sexagesimal look-alikes: all stay text
    (issue 10: a key like 5141231234 passed check, then translation died on int.upper())."""
    cfg = tmp_path / "qbedi.yaml"
    cfg.write_text("suppliers:\n"
                   "  5141231234: {vendor: Phone Co, match: [0012345, 12:30, 0o17, 1e3, yes], terms_days: 30,\n"
                   "               total_tolerance: 0.05, item_receipts: no}\n"
                   "  0012345: {vendor: Zeros Inc}\n")
    s = load_settings(cfg)
    assert set(s.suppliers) == {"5141231234", "0012345"}
    sup = s.suppliers["5141231234"]
    assert sup.match == ["0012345", "12:30", "0o17", "1e3", "yes"]
    assert sup.terms_days == 30 and str(sup.total_tolerance) == "0.05" and sup.item_receipts is False


def test_a_numeric_supplier_id_translates(tmp_path):
    from connector.translate import translate_set
    import edi
    from tests.support.builders import x12

    cfg = tmp_path / "qbedi.yaml"
    cfg.write_text("suppliers:\n  5141231234: {vendor: Phone Co, default_account: Supplies}\n")
    data = x12("IN", "810", ["BIG*20261121*INV-1", "IT1*1*2*EA*10.00**VN*W-1", "TDS*2000", "CTT*1"],
               sender="5141231234")
    [ps] = edi.parse_bytes(data).sets
    t = translate_set(load_settings(cfg), ps, ordinal=0, file_sha256="0" * 64)
    assert t.status == "ready" and t.supplier_id == "5141231234", t.holds


@pytest.mark.parametrize("cron", ["61 * * * *", "* * * * mon-xyz"])
def test_a_cron_the_scheduler_would_refuse_is_refused_by_check(tmp_path, cron):
    cfg = tmp_path / "qbedi.yaml"
    cfg.write_text(f"sources:\n  - type: folder\n    poll: {{cron: '{cron}'}}\n")
    with pytest.raises(ConfigError, match="cron"):
        load_settings(cfg)


def test_check_warns_of_what_mixes_companies_up():
    """Readable, yet likely mistakes with several companies: no company file (another company's session is not
    refused), two users on one company file, suppliers that go to the first user because they name none."""
    from connector.settings import Settings

    h = "scrypt$16384$8$1$" + "a" * 24 + "$" + "b" * 44
    s = Settings.model_validate({"web_connector": {"users": [
        {"username": "north", "password_hash": h, "company_file": r"C:\QB\North.qbw"},
        {"username": "south", "password_hash": h, "company_file": r"c:\qb\north.QBW"},
        {"username": "west", "password_hash": h}]},
        "suppliers": {"ACME": {"vendor": "Acme", "company": "south"}, "GLOBEX": {"vendor": "Globex"}}})
    said = s.warnings()
    assert len(said) == 3
    assert "west: company_file is empty" in said[0]
    assert "north, south name the same company file" in said[1]
    assert "1 supplier(s) without `company:` (GLOBEX): their documents go to north" in said[2]
    one = Settings.model_validate({"web_connector": {"users": [
        {"username": "north", "password_hash": h, "company_file": r"C:\QB\North.qbw"}]},
        "suppliers": {"GLOBEX": {"vendor": "Globex"}}})
    assert one.warnings() == []  # one company: every supplier's documents go to it


def test_check_warns_of_a_company_file_that_is_not_a_full_path():
    """QuickBooks reports the company file's whole path: a bare name would refuse every session."""
    from connector.settings import Settings

    h = "scrypt$16384$8$1$" + "a" * 24 + "$" + "b" * 44
    said = {f: Settings.model_validate({"web_connector": {"users": [
        {"username": "n", "password_hash": h, "company_file": f}]}}).warnings()
        for f in ("Northwind.qbw", r"C:\QB\Northwind.qbw", r"\\server\share\Northwind.qbw", "c:/qb/northwind.qbw")}
    assert "'Northwind.qbw' is not a full path" in said["Northwind.qbw"][0]
    assert [w for f, w in said.items() if f != "Northwind.qbw" and w] == []


@pytest.mark.skipif(os.name != "posix", reason="file modes are POSIX")
def test_check_warns_of_config_files_other_users_may_change(tmp_path):
    """Whoever can write qbedi.yaml or the suppliers file can add a web admin or send invoices elsewhere."""
    cfg = tmp_path / "qbedi.yaml"
    sup = tmp_path / "suppliers.yaml"
    sup.write_text("ACME: {vendor: Acme}\n")
    cfg.write_text("suppliers_file: suppliers.yaml\n")
    for f in (cfg, sup):
        f.chmod(0o644)
    assert load_settings(cfg).warnings() == []
    sup.chmod(0o664)
    cfg.chmod(0o666)
    said = load_settings(cfg).warnings()
    assert said == [f"{cfg} may be changed by other users of this machine (mode 666): whoever can write it can add a "
                    f"web admin or send invoices to other vendors; chmod go-w {cfg}",
                    f"{sup} may be changed by other users of this machine (mode 664): whoever can write it can add a "
                    f"web admin or send invoices to other vendors; chmod go-w {sup}"]


def test_check_refuses_a_password_hash_no_password_can_match(tmp_path, capsys):
    """Seen: a hash cut short when pasted (`...$AAAA`) or with a cost scrypt refuses passed `qbedi check`, and
    every login was then refused as a wrong password: the admin kept retyping a right one."""
    from connector.passwords import hash_password, verify_password

    good = hash_password("pw", n=2**4)
    assert verify_password("pw", good)
    cut = good.rsplit("$", 1)[0] + "$AAAA"
    costly = good.replace("scrypt$16$", "scrypt$99999999999$")
    for bad, words in ((cut, "is not a whole scrypt hash (cut short or edited?)"),
                       (good[:-3], "is not a whole scrypt hash"),
                       (costly, "has scrypt costs no password can be checked with (n=99999999999"),
                       ("hunter2", "never a plain password")):
        assert not verify_password("pw", bad)
        for where in ("web_connector:\n  users:\n    - {username: north, password_hash: '%s'}\n",
                      "web:\n  users:\n    - {username: carol, password_hash: '%s'}\n"):
            cfg = tmp_path / "q.yaml"
            cfg.write_text(where % bad)
            assert main(["check", "--config", str(cfg)]) == 2
            err = capsys.readouterr().err
            assert "line 3" in err and "password_hash" in err and words in err, err
