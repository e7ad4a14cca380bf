"""The house plan, checked: imports point down the layers and never form a cycle, and one module
changes states. Every import counts, function-local and TYPE_CHECKING ones included."""
from __future__ import annotations

import ast
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
while not (REPO / "pyproject.toml").exists():  # the test may live in a sub-folder of tests/
    REPO = REPO.parent

# package -> layer; a package may import its own layer's package only if it is itself, and any lower layer
LAYERS = {
    "edi": 0, "qbxml_templates": 0,  # domain: X12 bytes -> dataclasses; typed specs -> qbXML
    "connector": 1,  # core: settings, store, lifecycle, ingest and delivery services
    "cleo_client": 2, "qbwc_server": 2,  # adapters: the wire only
    "web": 2,  # adapter: the AP web page (Flask), beside the SOAP endpoint
    "fakes": 3,  # QuickBooks emulator, QBWC simulator, Cleo emulator
    "qbedi": 4,  # entry points: CLI, daemon, demo, runtime wiring, workspace creation
}
STATE_OWNER = "connector/lifecycle.py"


def _modules() -> dict[str, Path]:
    out = {}
    for pkg in LAYERS:
        for path in (REPO / pkg).rglob("*.py"):
            rel = path.relative_to(REPO).with_suffix("")
            parts = rel.parts[:-1] if rel.name == "__init__" else rel.parts
            if "migrations" not in parts:
                out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(name: str, path: Path) -> list[tuple[int, str]]:
    """(line, module) for every import in the file, resolved to the most specific module we have."""
    is_pkg = path.name == "__init__.py"
    base = name.split(".") if is_pkg else name.split(".")[:-1]
    found = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found += [(node.lineno, a.name) for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            mod = ".".join(base[:len(base) - node.level + 1] + ([node.module] if node.module else [])) \
                if node.level else node.module
            for a in node.names:
                found.append((node.lineno, f"{mod}.{a.name}" if f"{mod}.{a.name}" in MODULES else mod))
    out = []
    for line, mod in found:
        while mod and mod not in MODULES and "." in mod:
            mod = mod.rsplit(".", 1)[0]
        if mod in MODULES:
            out.append((line, mod))
    return out


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def test_the_layout_has_every_layer():
    assert {m.split(".")[0] for m in MODULES} == set(LAYERS)


def test_imports_point_down_the_layers():
    wrong = []
    for name, edges in GRAPH.items():
        me = name.split(".")[0]
        for line, target in edges:
            other = target.split(".")[0]
            if other != me and LAYERS[other] >= LAYERS[me]:
                wrong.append(f"{MODULES[name].relative_to(REPO)}:{line} imports {target} "
                             f"(layer {LAYERS[other]} from layer {LAYERS[me]})")
    assert not wrong, "imports that run up or across the layers:\n" + "\n".join(wrong)


def test_no_import_cycles():
    index, low, stack, on, cycles = {}, {}, [], set(), []

    def visit(v):  # Tarjan's strongly connected components
        index[v] = low[v] = len(index)
        stack.append(v)
        on.add(v)
        for _, w in GRAPH[v]:
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in on:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            comp = []
            while True:
                w = stack.pop()
                on.discard(w)
                comp.append(w)
                if w == v:
                    break
            if len(comp) > 1:
                cycles.append(sorted(comp))

    for v in GRAPH:
        if v not in index:
            visit(v)
    assert not cycles, "modules that import each other (directly or round about): " + "; ".join(
        " <-> ".join(c) for c in cycles)


def test_only_the_lifecycle_module_assigns_states():
    """``x.status = ...`` / ``x.state = ...`` (also in tuple assignments) only in connector/lifecycle.py."""
    wrong = []
    for name, path in MODULES.items():
        rel = path.relative_to(REPO).as_posix()
        if rel == STATE_OWNER or name.split(".")[0] in ("fakes", "edi"):  # the emulator's records; X12 N4 state
            continue
        for node in ast.walk(ast.parse(path.read_text())):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target] \
                if isinstance(node, (ast.AugAssign, ast.AnnAssign)) else []
            for t in targets:
                for el in (t.elts if isinstance(t, ast.Tuple) else [t]):
                    if isinstance(el, ast.Attribute) and el.attr in ("status", "state"):
                        wrong.append(f"{rel}:{node.lineno}")
    assert not wrong, "states assigned outside the lifecycle module: " + ", ".join(wrong)


def test_the_checks_see_a_violation():
    """The checks above are not vacuous: the graph holds the edges they judge."""
    assert ("connector.lifecycle" in {t for _, t in GRAPH["connector.services"]})
    assert any(t.startswith("connector") for _, t in GRAPH["qbwc_server.sessions"])
