"""requirements.txt alone runs Baloo: every package its code imports is pinned there, exactly.

A package that arrives only as another's dependency (`requests` through mozilla-django-oidc) can
vanish or change with that package's next release. Modules that packages import without declaring
them (`packaging`, imported by kombu's Redis transport) are caught by the production smoke test
(.ci/smoke_production.py), which starts the Procfile's processes from requirements.txt alone.
"""

import ast
import os
import re
import sys
from importlib.metadata import packages_distributions
from pathlib import Path

from .processes import PROJECT_DIR

LOCAL = {path.parent.name for path in Path(PROJECT_DIR).glob("*/__init__.py")} | {"manage"}
# Modules named by settings rather than imported (apps, middleware, storage) and the Procfile's programs.
NAMED_ELSEWHERE = {"corsheaders", "django_celery_beat", "whitenoise", "psycopg2", "redis", "gunicorn", "celery"}


def _runtime_files() -> list[Path]:
    """Code that production runs, or that `make bench` runs from requirements.txt: not the tests."""
    files = []
    for folder, subfolders, names in os.walk(PROJECT_DIR):
        subfolders[:] = [name for name in subfolders if not name.startswith(".") and name not in ("tests", "staticfiles")]
        files += [Path(folder) / name for name in names if name.endswith(".py") and name != "conftest.py"]
    return files


def _imported_modules(path: Path) -> set[str]:
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            modules |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
            modules.add(node.module.split(".")[0])
    return modules


def _pinned() -> dict[str, str]:
    pins = {}
    for line in (Path(PROJECT_DIR) / "requirements.txt").read_text().splitlines():
        line = line.split("#", 1)[0].strip()
        if line:
            match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([^=\s]+)", line)
            assert match, f"requirements.txt pins every line exactly (name==version): {line!r}"
            pins[re.sub(r"[-_.]+", "-", match[1]).lower()] = match[2]
    return pins


def test_every_package_the_code_imports_is_pinned_in_requirements_txt():
    third_party = set(NAMED_ELSEWHERE)
    for path in _runtime_files():
        scripts_beside = {sibling.stem for sibling in path.parent.glob("*.py")}  # bench/run.py imports bench/load.py
        third_party |= _imported_modules(path) - LOCAL - scripts_beside - set(sys.stdlib_module_names) - {"__future__"}
    distributions = packages_distributions()
    pinned = _pinned()
    missing = {}
    for module in sorted(third_party):
        names = [re.sub(r"[-_.]+", "-", name).lower() for name in distributions.get(module, [module])]
        if not any(name in pinned for name in names):
            missing[module] = names
    assert not missing, f"imported but not pinned in requirements.txt (module: distributions): {missing}"


def test_kombus_redis_transport_dependency_is_pinned():
    # kombu.transport.redis imports packaging without declaring it: no worker or beat starts without it.
    assert "packaging" in _pinned()
