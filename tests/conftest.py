"""Fixtures for every layer (tests/unit, tests/integration, tests/e2e; see tests/README.md).

Test data the tests own is in ``tests/data``. Reference material that cannot live in the repository
(Intuit's qbXML XSD and Web Connector references, the public X12 sample corpus) is read from
``../shared`` beside the repository, or wherever ``QBEDI_SHARED`` points; the fixtures that hand it out
skip the test, with the reason, when it is absent. Tests use SQLite by default and the database in
``QBEDI_TEST_DATABASE_URL`` when it is set (the PostgreSQL pass of .ci/run).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests.support import (
    LAYERS, NO_QBWC_REFS, NO_SAMPLES, NO_XSD, QBWC_REF_DIR, SAMPLES_DIR, SHARED, TESTS, XSD_DIR,
    have_qbwc_refs, have_samples, have_xsd,
)

_XSD_ENV = "QBEDI_QBXML_XSD_DIR"
_pinned_xsd_env = False


def pytest_configure(config):
    # Without the XSD in the reference material, make the product see no XSD either: it would otherwise
    # look for shared/reference/qbxml in every folder above the repository and the cwd and might find one
    # the tests do not mean (QBEDI_SHARED=/nonexistent must behave like a plain clone).
    global _pinned_xsd_env
    if not have_xsd() and not os.environ.get(_XSD_ENV):
        os.environ[_XSD_ENV] = str(XSD_DIR)
        _pinned_xsd_env = True


def pytest_unconfigure(config):
    if _pinned_xsd_env:
        os.environ.pop(_XSD_ENV, None)


def pytest_collection_modifyitems(config, items):
    """``pytest -m unit`` / ``-m integration`` / ``-m e2e``: the layer is the folder a test lives in."""
    for item in items:
        try:
            layer = Path(item.path).resolve().relative_to(TESTS).parts[0]
        except ValueError:
            continue
        if layer in LAYERS:
            item.add_marker(getattr(pytest.mark, layer))


def pytest_report_header(config):
    have = [name for name, ok in (("qbXML XSD", have_xsd()), ("Web Connector references", have_qbwc_refs()),
                                  ("X12 sample corpus", have_samples())) if ok]
    return f"reference material ({SHARED}): {', '.join(have) if have else 'none (those checks are skipped)'}"


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.skip(f"reference material not found at {SHARED} (put ../shared beside the repository or set "
                    "QBEDI_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def samples_dir() -> Path:
    """The public X12 sample corpus; skips the test when it is absent."""
    if not have_samples():
        pytest.skip(NO_SAMPLES)
    return SAMPLES_DIR


@pytest.fixture(scope="session")
def xsd_dir() -> Path:
    """Intuit's qbXML XSD folder; skips the test when it is absent."""
    if not have_xsd():
        pytest.skip(NO_XSD)
    return XSD_DIR


@pytest.fixture(scope="session")
def qbwc_ref_dir() -> Path:
    """Intuit's Web Connector WSDLs, .qwc samples and captured envelopes; skips the test when absent."""
    if not have_qbwc_refs():
        pytest.skip(NO_QBWC_REFS)
    return QBWC_REF_DIR


@pytest.fixture
def xsd_checks(monkeypatch) -> Path | None:
    """Point the product (and the QuickBooks emulator, which checks every request it is sent) at
    Intuit's XSD when it is there. Never skips: without the XSD the emulator answers without that check,
    and the test runs the rest of what it checks. Returns the XSD folder, or None."""
    monkeypatch.setenv(_XSD_ENV, str(XSD_DIR))
    return XSD_DIR if have_xsd() else None


@pytest.fixture
def db_url(tmp_path):
    """A fresh, empty database for one test.

    SQLite file by default; with ``QBEDI_TEST_DATABASE_URL`` a private schema in
    that PostgreSQL database (dropped afterwards), so tests never see each other.
    """
    base = os.environ.get("QBEDI_TEST_DATABASE_URL")
    if not base:
        yield f"sqlite:///{tmp_path / 'qbedi-test.db'}"
        return
    import uuid

    from sqlalchemy import create_engine, text

    schema = f"t_{uuid.uuid4().hex[:12]}"
    admin = create_engine(base)
    with admin.begin() as conn:
        conn.execute(text(f'CREATE SCHEMA "{schema}"'))
    sep = "&" if "?" in base else "?"
    try:
        yield f"{base}{sep}options=-csearch_path%3D{schema}"
    finally:
        with admin.begin() as conn:
            conn.execute(text(f'DROP SCHEMA "{schema}" CASCADE'))
        admin.dispose()
