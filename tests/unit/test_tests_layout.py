"""The tests' own house rules (tests/README.md): every test module lives in a layer, shares code only
through tests.support, and owns its data (only the demo's own test uses the demo's files)."""
from __future__ import annotations

import ast

from tests.support import LAYERS, TESTS

MODULES = sorted(p for p in TESTS.rglob("*.py") if "data" not in p.relative_to(TESTS).parts)
TEST_MODULES = [p for p in MODULES if p.name.startswith("test_")]
DEMO_TEST = TESTS / "e2e" / "test_demo.py"
SELF = TESTS / "unit" / "test_tests_layout.py"


def _imports(path):
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"), str(path))):
        if isinstance(node, ast.Import):
            yield from (a.name for a in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module:
            yield "." * node.level + node.module


def test_every_test_module_lives_in_a_layer():
    stray = [str(p.relative_to(TESTS)) for p in TEST_MODULES if p.relative_to(TESTS).parts[0] not in LAYERS]
    assert not stray, f"test modules outside tests/{{{','.join(LAYERS)}}}: {stray}"
    assert all(any((TESTS / layer).glob("test_*.py")) for layer in LAYERS)


def test_shared_code_comes_from_tests_support_only():
    """No test imports another test module (or relies on pytest putting its own folder on sys.path)."""
    wrong = []
    for path in MODULES:
        for mod in _imports(path):
            if mod.startswith(".") or mod.split(".")[0].startswith("test_") or \
                    (mod.startswith("tests.") and not mod.startswith("tests.support")) or mod == "tests.helpers":
                wrong.append(f"{path.relative_to(TESTS)} imports {mod}")
    assert not wrong, wrong


def test_the_tests_own_their_data():
    """Mappings and X12 files come from tests/data, not from the demo (except in the demo's own test)."""
    wrong = []
    for path in MODULES:
        if path in (DEMO_TEST, SELF):
            continue
        text = path.read_text(encoding="utf-8")
        if "qbedi.demo" in set(_imports(path)) or any(w in text for w in ("DEMO_SUPPLIERS", "data/demo", '/ "demo"')):
            wrong.append(str(path.relative_to(TESTS)))
    assert not wrong, wrong
