"""The agent package's layout: no back doors between its parts (read from the source with ``ast``)."""

from __future__ import annotations

import ast
import itertools
import tomllib
from pathlib import Path

from roiwatch_dev import REPO

PACKAGE = REPO / "roiwatch_agent"


def _module(path: Path) -> str:
    parts = path.relative_to(REPO).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imports(path: Path) -> set[str]:
    """Every module a file imports, absolute, also those imported inside functions."""
    package = _module(path) if path.name == "__init__.py" else _module(path).rpartition(".")[0]
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package.split(".")
            base = base[: len(base) - node.level + 1] if node.level else []
            module = ".".join([*base, *([node.module] if node.module else [])])
            found.add(module)
            found.update(f"{module}.{alias.name}" for alias in node.names)
    return found


def _graph() -> dict[str, set[str]]:
    return {_module(path): _imports(path) for path in PACKAGE.rglob("*.py")}


def _in(module: str, part: str) -> bool:
    return module == part or module.startswith(part + ".")


def test_capture_and_the_dumb_camera_never_import_each_other():
    """The dumb camera stays light and capture does not depend on a role: what both read is in video/."""
    crossings = [
        (module, imported)
        for module, imports in _graph().items()
        for a, b in itertools.permutations(("roiwatch_agent.capture", "roiwatch_agent.dumb"))
        if _in(module, a)
        for imported in imports
        if _in(imported, b)
    ]
    assert crossings == []


def test_no_module_of_the_runtime_package_is_imported_only_by_tests():
    """Every module of the package is reached from the command line or the app (build tools: roiwatch_dev)."""
    graph = _graph()
    entry = ["roiwatch_agent.cli", "roiwatch_agent.protocol"]
    entry += sorted(m for m in _imports(REPO / "roiwatch_app" / "run.py") if m in graph)
    reached: set[str] = set()
    while entry:
        module = entry.pop()
        if module in reached:
            continue
        reached.add(module)
        # A package's __init__ runs on the way to any of its modules.
        parent = module.rpartition(".")[0]
        entry.extend(m for m in [*graph[module], parent] if m in graph and m not in reached)
    unreached = sorted(set(graph) - reached - {"roiwatch_agent"})
    assert unreached == []
    assert not (PACKAGE / "detection" / "textgraph.py").exists()


def test_the_wheel_ships_every_agent_package_and_no_dev_code():
    """A package left out of pyproject's list is missing on a Pi; roiwatch_dev never ships."""
    packages = tomllib.loads((REPO / "pyproject.toml").read_text())["tool"]["setuptools"]["packages"]
    code = {_module(init) for init in PACKAGE.rglob("__init__.py")}
    assert sorted(code - set(packages)) == []
    # (roiwatch_agent.data: the model files, a package without code)
    folders = [REPO / p.replace(".", "/") for p in packages if _in(p, "roiwatch_agent")]
    assert len(folders) == len(packages) and all(folder.is_dir() for folder in folders)


def test_scripts_and_dev_code_import_nothing_from_the_tests():
    """What scripts and tests share lives in roiwatch_dev; the runtime imports neither."""
    tests_imported = {
        str(path.relative_to(REPO)): sorted(m for m in _imports(path) if _in(m, "tests"))
        for path in [*(REPO / "scripts").glob("*.py"), *(REPO / "roiwatch_dev").rglob("*.py")]
    }
    assert {path: found for path, found in tests_imported.items() if found} == {}
    runtime = [*PACKAGE.rglob("*.py"), REPO / "roiwatch_app" / "run.py"]
    dev_imported = [
        (str(path.relative_to(REPO)), m)
        for path in runtime
        for m in _imports(path)
        if _in(m, "roiwatch_dev") or _in(m, "tests")
    ]
    assert dev_imported == []
