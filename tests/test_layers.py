"""The package's layers: no import cycle inside ``skintag/``, nothing imports a layer above its own, and the fairness
core loads without scikit-learn, torch or streamlit.

The import graph is read from the source with ``ast``: every ``import`` and ``from … import`` counts, at module level
or inside a function (a lazy import still ties two modules together), except those under ``if TYPE_CHECKING:``.
``from skintag.a import b`` is an edge to the module ``skintag.a.b`` when that module exists, else to ``skintag.a``.
"""

from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
PACKAGE = REPO / "skintag"

#: Layers from the bottom up; a module may import its own layer and those below, never one above. A package's
#: ``__main__`` (a command-line entry point) sits above everything. The services (the case log and batch triage) use
#: the core and are used by the pages; the HTTP API is on top: nothing in ``skintag`` imports it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("skintag.errors", "skintag.stats", "skintag.fitzpatrick", "skintag.fairness"),
    ("skintag.caselog", "skintag.batch"),
    ("skintag.plots",),
    ("skintag.documents",),
    ("skintag.ui",),
    ("skintag.api",),
)


def module_name(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def all_modules() -> dict[str, Path]:
    return {module_name(p): p for p in sorted(PACKAGE.rglob("*.py"))}


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _imported_names(tree: ast.AST, module: str, is_package: bool) -> list[str]:
    """Dotted names imported anywhere in ``tree`` (``from x import y`` gives ``x.y``), TYPE_CHECKING blocks left out."""
    names: list[str] = []
    stack: list[ast.AST] = [tree]
    while stack:
        node = stack.pop()
        if isinstance(node, ast.If) and _is_type_checking(node.test):
            stack.extend(node.orelse)
            continue
        if isinstance(node, ast.Import):
            names += [a.name for a in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:  # relative: resolve against this module's package
                pkg = module.split(".") if is_package else module.split(".")[:-1]
                base = ".".join(pkg[: len(pkg) - node.level + 1] + ([base] if base else []))
            names += [f"{base}.{a.name}" for a in node.names]
        stack.extend(ast.iter_child_nodes(node))
    return names


def import_graph() -> dict[str, set[str]]:
    """Module → the ``skintag`` modules it imports."""
    modules = all_modules()
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        tree = ast.parse(path.read_text(encoding="utf-8"), filename=str(path))
        targets = set()
        for imported in _imported_names(tree, name, path.name == "__init__.py"):
            while imported and imported not in modules:  # "skintag.a.b" where b is a name → the module "skintag.a"
                imported = imported.rpartition(".")[0]
            if imported and imported.startswith("skintag") and imported != name:
                targets.add(imported)
        graph[name] = targets
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle as a list of modules (first == last), or None."""
    state: dict[str, int] = {}  # 1 on the current path, 2 done
    path: list[str] = []

    def visit(node: str) -> list[str] | None:
        state[node] = 1
        path.append(node)
        for nxt in sorted(graph.get(node, ())):
            if state.get(nxt) == 1:
                return path[path.index(nxt):] + [nxt]
            if nxt not in state and (found := visit(nxt)):
                return found
        path.pop()
        state[node] = 2
        return None

    for start in sorted(graph):
        if start not in state and (found := visit(start)):
            return found
    return None


def _layer(module: str) -> int | None:
    if module.endswith(".__main__"):
        return len(LAYERS)
    for i, prefixes in enumerate(LAYERS):
        if any(module == p or module.startswith(p + ".") for p in prefixes):
            return i
    return None


def test_the_graph_sees_function_level_imports_and_skips_type_checking():
    tree = ast.parse(
        "from typing import TYPE_CHECKING\nimport skintag.stats\nif TYPE_CHECKING:\n    from skintag.plots import x\n"
        "else:\n    import skintag.errors\ndef f():\n    from skintag.fairness.report import FairnessReport\n"
    )
    names = set(_imported_names(tree, "skintag.demo", False))
    assert {"skintag.stats", "skintag.errors", "skintag.fairness.report.FairnessReport"} <= names
    assert not any(n.startswith("skintag.plots") for n in names)
    graph = import_graph()
    assert "skintag.documents.fairness_report" in graph["skintag.ui.fairness"]  # a module-level import
    assert "skintag.model.card" in graph["skintag.model.bundle"]  # a function-level import
    assert "skintag.fairness.mitigation" not in graph["skintag.plots.fairness"]  # only under TYPE_CHECKING


def test_find_cycle_names_the_cycle():
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": set(), "c": {"a", "b"}}) is None


def test_no_import_cycle_in_skintag():
    cycle = find_cycle(import_graph())
    assert cycle is None, "import cycle: " + " → ".join(cycle or [])


def test_no_module_imports_a_layer_above_its_own():
    upward = [
        f"{src} ({_layer(src)}) → {dst} ({_layer(dst)})"
        for src, targets in import_graph().items()
        for dst in targets
        if _layer(src) is not None and _layer(dst) is not None and _layer(dst) > _layer(src)  # type: ignore[operator]
    ]
    assert not upward, "upward imports:\n" + "\n".join(upward)


def test_the_api_is_on_top_and_the_services_below_the_pages():
    graph = import_graph()
    into_api = sorted(f"{src} → {dst}" for src, targets in graph.items() if not src.startswith("skintag.api")
                      for dst in targets if dst.startswith("skintag.api"))
    assert not into_api, into_api  # also from modules in no layer (model, triage, settings, ...)
    assert (_layer("skintag.caselog.log"), _layer("skintag.batch"), _layer("skintag.api.app")) == (1, 1, 5)
    assert "skintag.caselog.log" in graph["skintag.ui.caselog"] or "skintag.caselog" in graph["skintag.ui.caselog"]
    assert "skintag.fairness.export" in graph["skintag.caselog.export"]  # services use the core


@pytest.mark.parametrize(
    ("modules", "absent"),
    [
        ("skintag.fairness", ("sklearn", "torch", "streamlit", "transformers")),
        ("skintag.stats, skintag.fitzpatrick", ("sklearn", "torch", "streamlit", "transformers")),
        ("skintag.caselog.monitor, skintag.caselog.access, skintag.batch",
         ("sklearn", "torch", "streamlit", "transformers", "sqlalchemy")),
        ("skintag.plots.fairness, skintag.documents.fairness_report, skintag.documents.case_report",
         ("sklearn", "torch", "streamlit", "transformers")),
    ],
)
def test_light_imports(modules, absent):
    code = f"import sys, {modules}; print(' '.join(m for m in {absent!r} if m in sys.modules) or 'none')"
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, cwd=REPO)
    assert out.stdout.strip() == "none"
