"""The shape of the code, checked: apps depend one way, modules never import in a circle, none is huge.

The order is the data flow (docs/architecture.md): what happened (`activities`), who did it
(`contributors`), what counts (`conversion_points`), the counting (`metrics`), then the apps that
sign people in, help them and show the numbers. An app imports only from apps below it. The apps
below say what changed with signals of their own (`activities.signals`, `contributors.signals`,
`conversion_points.signals`), which `metrics` listens to, so nothing needs to import upward.

Two kinds of module are wiring rather than rules, and may reach further:

- an app's user interface for staff and builders (its admin, views, forms, URLs, template tags and
  management commands) may also read the apps up to `metrics`: a builder's person list shows when
  each person last contributed under the rules;
- `baloo_site`'s wiring (settings, URLs, Celery, the middlewares) puts everything together. Its
  other modules are the small library every app may use, and import no app.
"""

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

#: Bottom to top. An app may import from apps in lower layers only.
LAYERS = [
    ["activities"],
    ["contributors"],
    ["conversion_points"],
    ["metrics"],
    ["accounts", "community"],
    ["dashboard", "api", "demo", "desk"],
]
LAYER = {app: level for level, apps in enumerate(LAYERS) for app in apps}
APPS = set(LAYER) | {"baloo_site"}
TOP_OF_UI_READS = LAYER["metrics"]

BALOO_SITE_WIRING = {"settings", "urls", "celery", "celery_beat", "wsgi", "security", "health"}
UI_MODULES = {"admin", "views", "forms", "urls"}
UI_PACKAGES = {"templatetags", "management"}

MAX_LINES = 600


def _modules() -> dict[str, Path]:
    """Every module of the project outside migrations and tests, by dotted name."""
    found = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] not in APPS or "migrations" in parts or "tests" in parts or parts[-1].startswith("test_"):
            continue
        name = ".".join(parts)[: -len(".py")]
        found[name.removesuffix(".__init__")] = path
    return found


MODULES = _modules()


def _in_type_checking(node: ast.AST, parents: dict[ast.AST, ast.AST]) -> bool:
    while node in parents:
        node = parents[node]
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            return True
    return False


def _imports(name: str, path: Path) -> set[str]:
    """The project modules `name` imports, at the top or inside a function (not for type checking only)."""
    tree = ast.parse(path.read_text())
    parents = {child: node for node in ast.walk(tree) for child in ast.iter_child_nodes(node)}
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            candidates = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - (node.level - 1)]
                base = ".".join([*anchor, base] if base else anchor)
            candidates = [f"{base}.{alias.name}" for alias in node.names] + [base]
        else:
            continue
        if _in_type_checking(node, parents):
            continue
        for candidate in candidates:
            # `from package import module` names the module; `from module import thing` the module.
            while candidate and candidate not in MODULES:
                candidate = candidate.rpartition(".")[0]
            if candidate and candidate != name:
                targets.add(candidate)
                break
    return targets


GRAPH = {name: _imports(name, path) for name, path in MODULES.items()}


def _is_ui(module: str) -> bool:
    parts = module.split(".")
    return parts[-1] in UI_MODULES or parts[-1].startswith("admin_") or bool(UI_PACKAGES & set(parts[1:]))


def _upward_imports() -> list[str]:
    wrong = []
    for module, targets in sorted(GRAPH.items()):
        app = module.split(".")[0]
        for target in sorted(targets):
            other = target.split(".")[0]
            if other == app:
                continue
            if app == "baloo_site":
                if module.split(".")[1] not in BALOO_SITE_WIRING:
                    wrong.append(f"{module} → {target} (baloo_site's library imports no app)")
                continue
            if other == "baloo_site":
                if target.split(".")[1] in BALOO_SITE_WIRING and target != "baloo_site.celery":
                    wrong.append(f"{module} → {target} (baloo_site's wiring is the top)")
                continue
            allowed = LAYER[other] < LAYER[app] or (_is_ui(module) and LAYER[other] <= TOP_OF_UI_READS and not _is_ui(target))
            if not allowed:
                wrong.append(f"{module} → {target}")
    return wrong


def test_every_app_is_in_the_dependency_order():
    apps = {path.parent.name for path in ROOT.glob("*/apps.py")}
    assert apps <= set(LAYER), f"apps missing from LAYERS (and docs/architecture.md): {sorted(apps - set(LAYER))}"


def test_no_app_imports_from_an_app_above_it():
    assert _upward_imports() == []


def _cycles() -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan's algorithm)."""
    index, low, stack, on_stack, found = {}, {}, [], set(), []
    counter = [0]

    def visit(node: str) -> None:
        index[node] = low[node] = counter[0]
        counter[0] += 1
        stack.append(node)
        on_stack.add(node)
        for target in GRAPH.get(node, ()):
            if target not in index:
                visit(target)
                low[node] = min(low[node], low[target])
            elif target in on_stack:
                low[node] = min(low[node], index[target])
        if low[node] == index[node]:
            component = []
            while True:
                member = stack.pop()
                on_stack.discard(member)
                component.append(member)
                if member == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(GRAPH):
        if node not in index:
            visit(node)
    return found


def test_no_modules_import_each_other_in_a_circle():
    assert _cycles() == []


def test_no_module_is_over_600_lines():
    long = {}
    for path in ROOT.rglob("*.py"):
        parts = path.relative_to(ROOT).parts
        if parts[0] in {".venv", "node_modules"} or "migrations" in parts or "tests" in parts:
            continue
        if parts[-1].startswith("test_") or parts[-1] == "conftest.py":
            continue
        lines = len(path.read_text().splitlines())
        if lines > MAX_LINES:
            long["/".join(parts)] = lines
    assert long == {}


@pytest.mark.parametrize(
    ("module", "target", "expected"),
    [
        ("activities.services", "contributors.services", False),
        ("contributors.services", "activities.models", True),
        ("contributors.admin", "conversion_points.contributions", True),
        ("contributors.admin", "accounts.permissions", False),
        ("conversion_points.admin", "dashboard.views", False),
    ],
)
def test_the_rule_itself_reads_as_documented(module, target, expected):
    """A check that cannot fail protects nothing: the rule is exercised on made-up imports."""
    saved = dict(GRAPH)
    try:
        GRAPH.clear()
        GRAPH[module] = {target}
        assert (_upward_imports() == []) is expected
    finally:
        GRAPH.clear()
        GRAPH.update(saved)
