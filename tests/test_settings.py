from pathlib import Path

import pytest

from connector.cli import main
from connector.settings import ConfigError, Settings, load_settings, parse_duration

REPO = Path(__file__).resolve().parents[1]


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
        (REPO / "connector" / "data" / "qbedi.example.yaml").read_bytes()


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


def test_sqlite_url_is_relative_to_config(tmp_path):
    path = tmp_path / "q.yaml"
    path.write_text("database:\n  url: sqlite:///./data/q.db\n")
    assert load_settings(path).database_url == f"sqlite:///{tmp_path}/data/q.db"
