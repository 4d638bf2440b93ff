"""The layering the README promises, checked on the source: imports point down, never by string, no cycles,
no module past ~500 lines, and Dagster only in the wiring."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "llmfeedback_assets"
NAME = "llmfeedback_assets"

# Lower layers may be imported by higher ones, never the reverse. Areas (the domain) sit between the gateway
# and the Dagster wiring; they may use each other's pure modules but must not form a cycle.
LAYERS = {
    "ids": 0, "config": 0,
    "warehouse": 1, "ranking": 1,
    "llm": 2, "embedding": 2,
    "judging": 3, "ingest": 3, "analysis": 3, "curation": 3, "reward": 3, "synth": 3, "export": 3,
    "defs": 4, "definitions": 4, "cli": 4,
}
DAGSTER_ALLOWED = {"defs", "definitions", "cli"}
MAX_LINES = 520


def _modules() -> dict[str, Path]:
    out = {}
    for path in PACKAGE.rglob("*.py"):
        parts = list(path.relative_to(PACKAGE.parent).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts = parts[:-1]
        out[".".join(parts)] = path
    return out


MODULES = _modules()


def _imports(module: str, path: Path) -> list[str]:
    """Every module of the package (or dagster) that `module` imports, resolved to absolute names."""
    tree = ast.parse(path.read_text())
    package = module if path.name == "__init__.py" else module.rsplit(".", 1)[0]
    for node in list(ast.walk(tree)):
        if isinstance(node, ast.If) and getattr(node.test, "id", "") == "TYPE_CHECKING":
            node.body = [ast.Pass()]  # imports for annotations only: never executed, so never a cycle
    found = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            found += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            if node.level:
                base = package.split(".")
                base = base[: len(base) - node.level + 1]
                target = ".".join(base + ([node.module] if node.module else []))
            else:
                target = node.module or ""
            found.append(target)
            found += [f"{target}.{a.name}" for a in node.names if f"{target}.{a.name}" in MODULES]
        elif isinstance(node, ast.Call) and getattr(node.func, "attr", "") == "import_module":
            found.append("<importlib>")
    return found


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ""


GRAPH = {m: sorted({i for i in _imports(m, p) if i.startswith(NAME + ".") or i.split(".")[0] == "dagster"
                    or i == "<importlib>"}) for m, p in MODULES.items()}


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m != NAME))
def test_imports_point_down(module):
    layer = LAYERS[_area(module)]
    for target in GRAPH[module]:
        assert target != "<importlib>", f"{module} imports by string"
        if target.split(".")[0] == "dagster":
            assert _area(module) in DAGSTER_ALLOWED, f"{module} imports dagster below the wiring"
            continue
        if _area(target) == _area(module) or target == NAME:
            continue
        assert LAYERS[_area(target)] <= layer, (
            f"{module} (layer {layer}) imports {target} from a higher layer")
        if layer == LAYERS[_area(target)] and layer < 3:
            pytest.fail(f"{module} imports {target}: modules of one lower layer stay independent")


def test_no_import_cycles():
    deps = {m: [t for t in GRAPH[m] if t in MODULES and t not in (NAME, m)] for m in MODULES}
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> None:
        state[m] = 1
        stack.append(m)
        for t in deps[m]:
            if t.startswith(m + "."):
                continue  # a package's __init__ re-exporting its own modules is not a cycle
            if state.get(t) == 1 and not m.startswith(t + "."):
                pytest.fail("import cycle: " + " -> ".join(stack[stack.index(t):] + [t]))
            if t not in state:
                visit(t)
        stack.pop()
        state[m] = 2

    for m in sorted(deps):
        if m not in state:
            visit(m)


@pytest.mark.parametrize("module", sorted(MODULES))
def test_no_module_is_two_modules(module):
    n = len(MODULES[module].read_text().splitlines())
    assert n <= MAX_LINES, f"{module} has {n} lines: split it"
