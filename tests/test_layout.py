"""The layering rules of design.md, checked on the source (parsed, not imported).

canary/ is the audited hazmat layer: it may import nothing of ours and no
database or CLI framework. forensics/ may import canary but never tracer.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FORBIDDEN = {
    "canary": {"duckdb", "sqlalchemy", "typer", "tracer", "forensics"},
    "forensics": {"tracer"},
}


def imported_modules(source: str, module: str) -> set[str]:
    """Top-level package of everything ``source`` (the module ``module``) imports.

    Relative imports are resolved, and importlib.import_module / __import__
    with a literal name count too.
    """
    package = module.split(".")[:-1]  # where a relative import starts ('a.__init__' -> 'a')
    found: set[str] = set()
    for node in ast.walk(ast.parse(source)):
        if isinstance(node, ast.Import):
            found |= {alias.name for alias in node.names}
        elif isinstance(node, ast.ImportFrom) and node.level == 0:
            found.add(node.module or "")
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - (node.level - 1)] if node.level - 1 <= len(package) else []
            if node.module:
                found.add(".".join([*base, node.module]))
            else:  # from .. import tracer: the names themselves may be modules
                found |= {".".join([*base, alias.name]) for alias in node.names}
        elif (isinstance(node, ast.Call) and node.args and isinstance(node.args[0], ast.Constant)
              and isinstance(node.args[0].value, str)
              and getattr(node.func, "attr", getattr(node.func, "id", None)) in {"import_module", "__import__"}):
            found.add(node.args[0].value)
    return {name.split(".")[0] for name in found if name}


def module_name(path: Path) -> str:
    return ".".join(path.relative_to(ROOT).with_suffix("").parts)


@pytest.mark.parametrize("package", sorted(FORBIDDEN))
def test_layers_import_only_what_they_may(package):
    paths = sorted((ROOT / package).rglob("*.py"))
    assert paths, f"{package}/ has no modules"
    offenders = {
        module_name(p): sorted(imported_modules(p.read_text(encoding="utf-8"), module_name(p)) & FORBIDDEN[package])
        for p in paths
    }
    assert {name: bad for name, bad in offenders.items() if bad} == {}


@pytest.mark.parametrize("source, module, expected", [
    ("import os, duckdb.typing", "canary.x", {"os", "duckdb"}),
    ("from sqlalchemy import text", "canary.x", {"sqlalchemy"}),
    ("from .. import tracer", "canary.x", {"tracer"}),
    ("from ..forensics.stats import score", "canary.x", {"forensics"}),
    ("from . import kinds\nfrom .kinds import Kind", "canary.x", {"canary"}),
    ("from . import kinds", "canary.__init__", {"canary"}),
    ("import importlib\nm = importlib.import_module('typer')", "canary.x", {"importlib", "typer"}),
    ("t = __import__('tracer.cli')", "canary.x", {"tracer"}),
])
def test_the_checker_sees_every_import_form(source, module, expected):
    assert imported_modules(source, module) == expected
