"""The import rule: entry points (CLI, server, benchmarks, MCP) reach the platform through
fedadmet.workflows, and the domain rooms never import an entry point, the use cases or the registry.

Read from the source (the AST), so that an import inside a function counts as much as one at the top.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
CACHE = ROOT / "benchmarks" / "cache"
ENTRY_POINTS = ("fedadmet/cli", "fedadmet/serve", "fedadmet/mcp", "benchmarks")
# What a workflow offers and an entry point must not reach around it for.
BEHIND_WORKFLOWS = (
    "fedadmet.models",
    "fedadmet.registry",
    "fedadmet.federated.task",
    "fedadmet.federated.partner_model",
    "fedadmet.inference",
    "fedadmet.serve.visibility",
)
DOMAIN_ROOMS = (
    "fedadmet/chem",
    "fedadmet/data",
    "fedadmet/models",
    "fedadmet/federated",
    "fedadmet/design",
    "fedadmet/clinical",
    "fedadmet/campaigns",
)
ABOVE_DOMAIN = ("fedadmet.workflows", "fedadmet.cli", "fedadmet.serve", "fedadmet.mcp", "fedadmet.registry")
# Settings are read at the edges (entry points, workflows, the Python API) and passed into the domain rooms
# as small typed records (chem.standardize.MoleculeLimits, chem.parallel.ParallelOptions, paths).
SETTINGS = ("fedadmet.config",)

# Exceptions to the rule, each file with exactly the modules it may still import (none today); an entry that
# is no longer needed fails the test, so that an exception cannot outlive its reason.
ALLOWED: dict[str, set[str]] = {}


def _python_files(root: Path, folders: tuple[str, ...]) -> Iterator[Path]:
    """The project's own sources: not the tools a benchmark installs under benchmarks/cache (ADMET-AI's venv)."""
    for folder in folders:
        yield from sorted(path for path in (root / folder).rglob("*.py") if CACHE not in path.parents)


def _imported_modules(root: Path, path: Path) -> set[str]:
    """Every module ``path`` imports, anywhere in it (relative imports resolved against its package)."""
    package = path.relative_to(root).with_suffix("").parts[:-1]
    modules = set()
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            modules.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = ".".join(package[: len(package) - node.level + 1]) if node.level else ""
            module = ".".join(part for part in (base, node.module or "") if part)
            modules.add(module)
            for alias in node.names:  # `from fedadmet.registry import repository` imports a module too
                member = f"{module}.{alias.name}"
                if _is_module(root, member):
                    modules.add(member)
    return modules


def _is_module(root: Path, name: str) -> bool:
    path = root.joinpath(*name.split("."))
    return path.is_dir() or path.with_suffix(".py").is_file()


def _within(module: str, prefixes: tuple[str, ...]) -> bool:
    return any(module == prefix or module.startswith(f"{prefix}.") for prefix in prefixes)


def _violations(folders: tuple[str, ...], forbidden: tuple[str, ...], root: Path = ROOT) -> dict[str, set[str]]:
    found = {}
    for path in _python_files(root, folders):
        modules = {m for m in _imported_modules(root, path) if _within(m, forbidden)}
        # a package imported only for its member module: the member names the import
        modules = {m for m in modules if not any(other.startswith(f"{m}.") for other in modules)}
        if modules:
            found[path.relative_to(root).as_posix()] = modules
    return found


def _unallowed(found: dict[str, set[str]]) -> dict[str, set[str]]:
    return {
        name: modules - ALLOWED.get(name, set())
        for name, modules in found.items()
        if modules - ALLOWED.get(name, set())
    }


def test_entry_points_reach_the_platform_through_workflows() -> None:
    assert _unallowed(_violations(ENTRY_POINTS, BEHIND_WORKFLOWS)) == {}


def test_domain_rooms_import_no_entry_point_use_case_or_registry() -> None:
    assert _unallowed(_violations(DOMAIN_ROOMS, ABOVE_DOMAIN)) == {}


def test_domain_rooms_take_settings_as_parameters() -> None:
    assert _unallowed(_violations(DOMAIN_ROOMS, SETTINGS)) == {}


def test_every_allowance_is_still_needed() -> None:
    found = _violations(ENTRY_POINTS, BEHIND_WORKFLOWS)
    for name, modules in [
        *_violations(DOMAIN_ROOMS, ABOVE_DOMAIN).items(),
        *_violations(DOMAIN_ROOMS, SETTINGS).items(),
    ]:
        found[name] = found.get(name, set()) | modules
    stale = {name: modules - found.get(name, set()) for name, modules in ALLOWED.items()}
    assert {name: modules for name, modules in stale.items() if modules} == {}


@pytest.mark.parametrize(
    ("source", "module"),
    [
        ("from fedadmet.registry import repository\n", "fedadmet.registry"),
        ("def f():\n    from fedadmet.inference import predict\n", "fedadmet.inference"),
        ("import fedadmet.models.trunk\n", "fedadmet.models.trunk"),
        ("from ..registry import tables\n", "fedadmet.registry"),
    ],
)
def test_the_rule_sees_every_way_of_importing(tmp_path: Path, source: str, module: str) -> None:
    """The checker itself: top-level, in a function, plain and relative imports are all found."""
    path = tmp_path / "fedadmet" / "serve" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text(source)
    found = _violations(("fedadmet/serve",), BEHIND_WORKFLOWS, root=tmp_path)
    assert module in found["fedadmet/serve/probe.py"]


def test_the_settings_rule_sees_a_domain_module_reading_settings(tmp_path: Path) -> None:
    """The checker for the settings rule: a chemistry module that fetches the settings itself is found."""
    path = tmp_path / "fedadmet" / "chem" / "probe.py"
    path.parent.mkdir(parents=True)
    path.write_text("def limit():\n    from fedadmet.config import get_settings\n")
    assert _violations(("fedadmet/chem",), SETTINGS, root=tmp_path) == {"fedadmet/chem/probe.py": {"fedadmet.config"}}
