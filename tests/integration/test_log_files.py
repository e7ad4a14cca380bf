"""Log files an admin can keep for years: rotated by qbedi at a size, or reopened after logrotate."""
import logging

import structlog

from connector.logs import configure_logging


def _flush():
    for h in logging.getLogger().handlers:
        h.flush()


def test_qbedi_rotates_its_log_at_the_size_given_and_keeps_that_many(tmp_path):
    log_file = tmp_path / "qbedi.log"
    configure_logging("INFO", "json", str(log_file), max_mb=1, keep=2)
    try:
        log = structlog.get_logger("t")
        for i in range(8000):
            log.info("document.queued", n=i, padding="x" * 400)
        _flush()
        kept = sorted(p.name for p in tmp_path.iterdir())
        assert kept == ["qbedi.log", "qbedi.log.1", "qbedi.log.2"]
        assert all(p.stat().st_size <= 1024 * 1024 + 1000 for p in tmp_path.iterdir())
        assert '"n": 7999' in log_file.read_text()
    finally:
        configure_logging("INFO", "json")


def test_the_log_file_masks_secrets_in_fields_in_tracebacks_and_in_stdlib_records(tmp_path):
    from connector import redact

    log_file = tmp_path / "qbedi.log"
    configure_logging("INFO", "json", str(log_file))
    redact.register_secret("s3cret-in-a-log-1")
    try:
        log = structlog.get_logger("t")
        log.info("login", cleo_password="pw-by-key", url="https://user:pw-in-url@cleo.example.com/api",
                 header="Authorization: Bearer abc.def.ghi", nested={"detail": ["with s3cret-in-a-log-1 inside"]})
        try:
            raise RuntimeError("Cleo refused s3cret-in-a-log-1")
        except RuntimeError:
            log.exception("cleo.failed")
        logging.getLogger("requests").warning("retrying with s3cret-in-a-log-1")  # a library's own record
        _flush()
        text = log_file.read_text()
        for secret in ("pw-by-key", "pw-in-url", "abc.def.ghi", "s3cret-in-a-log-1"):
            assert secret not in text
        assert "Traceback" in text and "RuntimeError: Cleo refused ***" in text and "retrying with ***" in text
        assert "user:***@cleo.example.com" in text and "Bearer ***" in text
    finally:
        redact.clear_registered_secrets()
        configure_logging("INFO", "json")


def test_a_log_moved_away_by_logrotate_is_reopened_and_no_line_is_lost(tmp_path):
    log_file = tmp_path / "qbedi.log"
    configure_logging("INFO", "json", str(log_file))
    try:
        log = structlog.get_logger("t")
        log.info("before.rotation")
        _flush()
        log_file.rename(tmp_path / "qbedi.log.1")  # what logrotate does (without copytruncate)
        log.info("after.rotation")
        _flush()
        assert "before.rotation" in (tmp_path / "qbedi.log.1").read_text()
        assert "after.rotation" in log_file.read_text() and "before" not in log_file.read_text()
    finally:
        configure_logging("INFO", "json")


def test_a_relative_log_file_is_beside_the_config_not_in_the_current_directory(tmp_path, db_url, monkeypatch):
    import yaml

    from qbedi.cli import main
    from tests.support.builders import write_config

    cfg = write_config(tmp_path, db_url)
    data = yaml.safe_load(cfg.read_text())
    data["logging"] = {"file": "logs.jsonl", "format": "json"}
    cfg.write_text(yaml.safe_dump(data))
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)
    try:
        assert main(["poll", "--once", "--config", str(cfg)]) == 0
        _flush()
        assert (cfg.parent / "logs.jsonl").exists() and not (elsewhere / "logs.jsonl").exists()
    finally:
        configure_logging("INFO", "json")
