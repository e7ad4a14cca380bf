"""Shared test fixtures.

Reference material lives in ``../shared`` beside the repository (or wherever
``QBEDI_SHARED`` points). Tests use SQLite by default and the database in
``QBEDI_TEST_DATABASE_URL`` when it is set (the PostgreSQL pass of .ci/run).
"""
from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
SHARED = Path(os.environ.get("QBEDI_SHARED", REPO.parent / "shared"))


@pytest.fixture(scope="session")
def shared_dir() -> Path:
    if not SHARED.is_dir():
        pytest.fail(f"reference material not found at {SHARED} (set QBEDI_SHARED)")
    return SHARED


@pytest.fixture(scope="session")
def samples_dir(shared_dir: Path) -> Path:
    return shared_dir / "edi-samples"


@pytest.fixture(scope="session")
def xsd_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "qbxml"


@pytest.fixture(scope="session")
def qbwc_ref_dir(shared_dir: Path) -> Path:
    return shared_dir / "reference" / "qbwc"


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
