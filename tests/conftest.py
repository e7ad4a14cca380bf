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
