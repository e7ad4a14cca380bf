"""What the test layers share, importable as ``tests.support`` from any layer (``tests`` is a package;
nothing here depends on pytest putting a test's own folder on ``sys.path``).

* this module: where the test data and the reference material are, and whether the latter is there;
* ``builders``: configs, X12 interchanges and QuickBooks emulator companies built in code;
* ``qbwc``: Web Connector doubles (an in-memory work provider, a fake QuickBooks, a live SOAP server);
* ``cleo``: a Cleo-sourced workspace and the tiny X12 files the Cleo tests list and fetch;
* ``xsd``: qbXML validation against Intuit's XSD that skips the test when the XSD is not there.

Test data owned by the tests lives in ``tests/data`` (``suppliers.yaml``, ``x12/*.edi``), with the part of
the public X12 sample corpus whose licences let it be copied (``corpus/``: MIT and Apache-2.0 files, with
their sources and licences in ``corpus/MANIFEST.md``). Reference material that cannot live in the
repository (Intuit's qbXML XSD and Web Connector WSDLs / .qwc samples / captured envelopes, the whole
corpus with its GPL and CDDL files) is read from ``../shared`` beside the repository, or wherever
``QBEDI_SHARED`` points; the tests that need it are skipped, with the reason, when it is absent.
"""
from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
TESTS = REPO / "tests"
DATA = TESTS / "data"
X12_DIR = DATA / "x12"
CORPUS_DIR = DATA / "corpus"  # the redistributable part of the public corpus, always there
LAYERS = ("unit", "integration", "e2e")

SHARED = Path(os.environ.get("QBEDI_SHARED") or REPO.parent / "shared")
XSD_DIR = SHARED / "reference" / "qbxml"
QBWC_REF_DIR = SHARED / "reference" / "qbwc"
SAMPLES_DIR = SHARED / "edi-samples"

_WHERE = "put ../shared beside the repository or set QBEDI_SHARED"
NO_XSD = f"needs Intuit's qbXML 13.0 XSD (not redistributable), not found in {XSD_DIR}: {_WHERE}"
NO_QBWC_REFS = (f"needs Intuit's Web Connector WSDLs / .qwc samples / captured envelopes, not found in "
                f"{QBWC_REF_DIR}: {_WHERE}")
NO_SAMPLES = f"needs the public X12 sample corpus (mixed licences, not in the repository), not found in " \
             f"{SAMPLES_DIR}: {_WHERE}"


def have_xsd() -> bool:
    return (XSD_DIR / "qbxmlops130.xsd").is_file()


def have_qbwc_refs() -> bool:
    return (QBWC_REF_DIR / "QBWebConnectorSvc.wsdl").is_file()


def have_samples() -> bool:
    return SAMPLES_DIR.is_dir() and any(SAMPLES_DIR.glob("*.edi"))


def corpus_files() -> list[Path]:
    """The public sample corpus (``*.edi``): the whole of it when ../shared is there, else the part of it
    the repository carries (``tests/data/corpus``)."""
    return sorted(SAMPLES_DIR.glob("*.edi")) if have_samples() else sorted(CORPUS_DIR.glob("*.edi"))


def own_x12_files() -> list[Path]:
    """The X12 files the tests own (``tests/data/x12``): always there."""
    return sorted(X12_DIR.glob("*.edi"))


def x12_file(name: str) -> bytes:
    """The bytes of one of the tests' own X12 files (``tests/data/x12/<name>``)."""
    return (X12_DIR / name).read_bytes()
