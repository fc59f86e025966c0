"""The layers of ``leadflow`` stay visible: no import cycle between modules, and every
module-level import points down (or sideways within its layer), never up.

Read from the source with ``ast`` — nothing is imported — so the check is fast and sees
exactly the statements in each module's top-level body (imports under ``if TYPE_CHECKING:``
are left out: they never run). Importing ``leadflow.a.b`` also runs ``leadflow/a/__init__.py``,
so that is an edge too; the package ``__init__`` files import nothing.

No module of the package imports inside a function to dodge a cycle, except the composition
roots (the app factory, the CLI and the demo), which load areas when they are called.
"""

from __future__ import annotations

import ast
import re
from functools import lru_cache
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = ROOT / "leadflow"

# Lowest first. A module belongs to the first layer with a pattern that matches its dotted
# name; a module-level import may point to its own layer or any layer below it.
LAYERS = (
    ("framework", (r"leadflow\.(extensions|db|checkpoints|pgdriver|lazymodules|errors|retry|secret_key)", r"leadflow\.web(\..+)?",
                   r"leadflow\.accounts\.zones", r"leadflow\.scheduler\.(claims|registry|heartbeat|wakeup)")),
    ("models", (r"leadflow\.\w+\.models", r"leadflow\.leads\.\w+_models")),
    ("core", (r"leadflow\.leads\.(store|events|fields|arrivals)", r"leadflow\.pipeline\.(totals|stages)",
              r"leadflow\.organizations\.names",
              r"leadflow\.governance\.(audit|settings|money|ordering)")),
    ("areas", (r"leadflow\.(?!scheduler\.runner$)\w+\.(?!views$|admin$|public$|page$|bulk$)\w+",)),
    ("pages", (r"leadflow\.\w+\.(views|admin|public)", r"leadflow\.leads\.(page|bulk)")),
    ("app", (r"leadflow", r"leadflow\.(wiring|models|cli|restore|serving|gunicorn_hooks|health)",
             r"leadflow\.scheduler\.runner")),
)

# Within the areas and pages layers, packages are ordered too, lowest first: a module may
# import from its own package or one listed before it. Accounts and governance are what every
# area reads (who, settings, audit); mail is the outbox every area sends through; leads are
# what the areas after them work on.
AREA_ORDER = ("accounts", "governance", "mail", "leads", "organizations", "activities", "pipeline",
              "routing", "scoring", "sequences", "workflows", "capture", "api", "imports", "dashboard",
              "reports")

# Modules that may import inside functions: they put the app together when called.
COMPOSITION_ROOTS = ("leadflow", "leadflow.cli")


def _modules() -> dict[str, Path]:
    found = {}
    for path in PACKAGE.rglob("*.py"):
        parts = path.relative_to(ROOT).with_suffix("").parts
        found[".".join(parts[:-1] if parts[-1] == "__init__" else parts)] = path
    return found


def _targets(module: str, is_package: bool, node: ast.Import | ast.ImportFrom, known, *, packages=True) -> set[str]:
    """The leadflow modules an import statement loads: the one each name names and, with
    ``packages``, the packages around it."""
    if isinstance(node, ast.Import):
        names = [alias.name for alias in node.names]
    else:
        if node.level:
            base = module.split(".") if is_package else module.split(".")[:-1]
            base = base[:len(base) - node.level + 1]
            prefix = ".".join(base + ([node.module] if node.module else []))
        else:
            prefix = node.module or ""
        names = [f"{prefix}.{alias.name}" if f"{prefix}.{alias.name}" in known else prefix for alias in node.names]
    found = set()
    for name in names:
        while name and name not in known:
            name = name.rpartition(".")[0]
        # Importing ``leadflow.a.b`` runs ``leadflow/a/__init__.py`` first: that is an edge too
        # (not the root package's, which every module runs, nor the importer's own packages).
        while name.startswith("leadflow.") and name != module and not module.startswith(name + "."):
            found.add(name)
            name = name.rpartition(".")[0] if packages else ""
    return found


def _is_type_checking(test: ast.expr) -> bool:
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING")


def _top_level_imports(body):
    for node in body:
        if isinstance(node, (ast.Import, ast.ImportFrom)):
            yield node
        elif isinstance(node, ast.If) and not _is_type_checking(node.test):
            yield from _top_level_imports(node.body)
            yield from _top_level_imports(node.orelse)
        elif isinstance(node, ast.Try):
            for block in (node.body, node.orelse, node.finalbody, *(h.body for h in node.handlers)):
                yield from _top_level_imports(block)


@lru_cache(maxsize=1)
def import_graph() -> tuple[dict[str, set[str]], list[tuple[str, str, str]]]:
    """Module → the leadflow modules its top-level body imports; and every import made
    inside a function, as (module, function, imported module)."""
    known = _modules()
    graph, deferred = {}, []
    for module, path in known.items():
        tree = ast.parse(path.read_text(encoding="utf-8"))
        is_package = path.name == "__init__.py"
        graph[module] = set()
        for node in _top_level_imports(tree.body):
            graph[module] |= _targets(module, is_package, node, known)
        for func in ast.walk(tree):
            if isinstance(func, (ast.FunctionDef, ast.AsyncFunctionDef)):
                for node in ast.walk(func):
                    if isinstance(node, (ast.Import, ast.ImportFrom)):
                        deferred += [(module, func.name, t)
                                     for t in _targets(module, is_package, node, known, packages=False)]
    return graph, deferred


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One import cycle, as the modules around it (first one repeated at the end), or None."""
    state, stack = {}, []

    def visit(node):
        state[node] = "open"
        stack.append(node)
        for target in sorted(graph.get(node, ())):
            if state.get(target) == "open":
                return stack[stack.index(target):] + [target]
            if target not in state and (cycle := visit(target)):
                return cycle
        stack.pop()
        state[node] = "done"
        return None

    for node in sorted(graph):
        if node not in state and (cycle := visit(node)):
            return cycle
    return None


def layer_of(module: str) -> tuple[int, int]:
    """(layer, package rank): the rank orders packages within the areas and pages layers.
    A sub-package's ``__init__`` is a marker at the bottom (it may import nothing above it)."""
    if module != "leadflow" and (ROOT / module.replace(".", "/")).is_dir() and module != "leadflow.web":
        return 0, 0
    for rank, (_, patterns) in enumerate(LAYERS):
        if any(re.fullmatch(p, module) for p in patterns):
            package = module.split(".")[1] if module.count(".") else ""
            in_order = LAYERS[rank][0] in ("areas", "pages")
            return rank, (AREA_ORDER.index(package) if in_order and package in AREA_ORDER else 0)
    raise AssertionError(f"{module} is in no layer: add it to LAYERS in tests/test_layers.py")


def upward_imports(graph) -> list[str]:
    wrong = []
    for module, targets in sorted(graph.items()):
        for target in sorted(targets):
            if layer_of(target) > layer_of(module):
                wrong.append(f"{module} ({LAYERS[layer_of(module)[0]][0]}) imports {target} "
                             f"({LAYERS[layer_of(target)[0]][0]})")
    return wrong


def test_the_root_package_loads_only_the_framework():
    """``leadflow/__init__.py`` runs before any other module of the package is imported, so
    its module-level imports must not reach any area (``create_app`` imports them when called)."""
    graph, _ = import_graph()
    assert all(layer_of(target)[0] == 0 for target in graph["leadflow"]), graph["leadflow"]


def test_no_module_imports_itself_through_others():
    graph, _ = import_graph()
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " → ".join(cycle)


def test_every_module_is_in_a_layer_and_imports_only_downwards():
    graph, _ = import_graph()
    assert upward_imports(graph) == []


def test_no_import_hides_inside_a_function():
    """One would usually be a cycle dodged: move the code to the layer it belongs in, or pass
    in what it needs (as ``init_web`` takes the user loader), instead."""
    _, deferred = import_graph()
    assert [f"{module}.{func} imports {target}" for module, func, target in deferred
            if module not in COMPOSITION_ROOTS] == []


@pytest.mark.parametrize("graph, cycle", [
    ({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}, ["a", "b", "c", "a"]),
    ({"a": {"b"}, "b": set(), "c": {"a", "b"}}, None),
])
def test_the_cycle_finder_names_the_cycle(graph, cycle):
    assert find_cycle(graph) == cycle
