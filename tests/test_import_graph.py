"""The fronts go through one door: the dashboard and the CLI commands import the client API,
never the store, the generators or the cluster internals directly.

Every import statement (module level or inside a function) of every module of a front is read
from its syntax tree, relative imports resolved, and checked against the rules below.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def imported_modules(path: Path) -> set[str]:
    """Fully qualified names of what a module imports: `import a.b` gives a.b; `from a import b` gives
    a.b (a submodule or a name in a, either way the import reaches into a)."""
    package = ".".join(path.relative_to(ROOT).with_suffix("").parts[:-1])
    names: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(), filename=str(path))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                parent = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(parent + ([base] if base else []))
            names.update(f"{base}.{alias.name}" for alias in node.names)
    return names


def within(name: str, prefix: str) -> bool:
    return name == prefix or name.startswith(prefix + ".")


FRONTS = {
    # front: (files, forbidden prefixes)
    "dashboard": (sorted((ROOT / "dashboard").rglob("*.py")),
                  ("storage", "ray_jobs.generators", "ray_jobs.cluster", "boto3", "botocore", "torch")),
    "cli commands": (sorted((ROOT / "ray_jobs" / "cli" / "commands").glob("*.py")),
                     ("storage", "ray_jobs.generators", "ray_jobs.cluster", "boto3", "botocore", "torch")),
}


@pytest.mark.parametrize("front", FRONTS)
def test_fronts_import_only_the_client(front):
    files, forbidden = FRONTS[front]
    assert files, f"no modules found for {front}"
    breaches = [f"{path.relative_to(ROOT)} imports {name}"
                for path in files for name in sorted(imported_modules(path))
                if any(within(name, prefix) for prefix in forbidden)]
    assert not breaches, "\n".join(breaches)


def test_the_check_sees_imports_inside_functions_and_relative_ones(tmp_path, monkeypatch):
    """The rule would be empty if the reader missed the imports the fronts actually use."""
    module = ROOT / "dashboard" / "pages" / "generate.py"
    assert "ray_jobs.client.MODEL_FORMATS" in imported_modules(module)
    probe = ROOT / "dashboard" / "_probe_for_test.py"
    monkeypatch.setattr(Path, "read_text", lambda self, *a, **k: (
        "def f():\n    from storage.catalog import AssetCatalog\nfrom .state import x\n"))
    names = imported_modules(probe)
    assert "storage.catalog.AssetCatalog" in names and "dashboard.state.x" in names
