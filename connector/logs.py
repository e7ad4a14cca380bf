"""structlog set-up: readable on a terminal, JSON lines otherwise.

Secrets are masked by a processor before anything is rendered
(``connector.redact`` when present: passwords, tokens, registered values).
"""
from __future__ import annotations

import logging
import sys

import structlog


def _redactors():
    """(the processor that masks a whole event, the one that masks the traceback text rendered after it)"""
    try:
        from connector.redact import redact_rendered, redact_secrets
    except ImportError:  # pragma: no cover - module ships with the package
        return None, None
    return redact_secrets, redact_rendered


def _file_handler(file: str, max_mb: int, keep: int) -> logging.Handler:
    """``max_mb`` > 0: qbedi rotates the file itself (``file``, ``file.1`` ... ``file.<keep>``); 0: the file
    is reopened when an outside rotator (logrotate, newsyslog) moves it away, so no line is lost to a
    moved file and no copytruncate is needed."""
    from logging.handlers import RotatingFileHandler, WatchedFileHandler

    if max_mb > 0:
        return RotatingFileHandler(file, maxBytes=max_mb * 1024 * 1024, backupCount=keep, encoding="utf-8")

    class _Reopening(WatchedFileHandler):
        def reopenIfNeeded(self):  # noqa: N802 - logging's name
            try:
                super().reopenIfNeeded()
            except OSError:  # the folder itself went away: keep writing where we were, never raise
                pass

    return _Reopening(file, encoding="utf-8")


def configure_logging(level: str = "INFO", fmt: str = "auto", file: str | None = None, stream=None, *,
                      max_mb: int = 0, keep: int = 5) -> None:
    stream = stream or sys.stderr
    if fmt == "auto":
        fmt = "console" if getattr(stream, "isatty", lambda: False)() and not file else "json"
    shared = [
        structlog.contextvars.merge_contextvars,
        structlog.processors.add_log_level,
        structlog.processors.TimeStamper(fmt="iso", utc=True),
    ]
    redact, redact_rendered = _redactors()
    if redact is not None:
        shared.append(redact)
    renderer = (structlog.dev.ConsoleRenderer(colors=getattr(stream, "isatty", lambda: False)())
                if fmt == "console" else structlog.processors.JSONRenderer())
    handler = _file_handler(file, max_mb, keep) if file else logging.StreamHandler(stream)
    after_exc = [redact_rendered] if redact_rendered is not None else []  # secrets inside rendered tracebacks too
    handler.setFormatter(structlog.stdlib.ProcessorFormatter(
        foreign_pre_chain=shared,
        processors=[structlog.stdlib.ProcessorFormatter.remove_processors_meta,
                    structlog.processors.format_exc_info, *after_exc, renderer],
    ))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level)
    for noisy in ("spyne", "waitress", "apscheduler", "urllib3", "zeep", "alembic"):
        logging.getLogger(noisy).setLevel(max(logging.WARNING, logging.getLevelName(level)))
    structlog.configure(
        # drop events below the level first: no timestamping or redaction work for discarded DEBUG lines
        processors=[structlog.stdlib.filter_by_level, *shared, structlog.stdlib.ProcessorFormatter.wrap_for_formatter],
        logger_factory=structlog.stdlib.LoggerFactory(),
        wrapper_class=structlog.stdlib.BoundLogger,
        cache_logger_on_first_use=False,
    )
