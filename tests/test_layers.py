"""Imports point one way: the layers of docs/architecture.md, checked on every module.

A module belongs to the first layer one of whose prefixes names it, and may import only from
the layers that layer lists (itself included). Third-party imports are free.
"""

from __future__ import annotations

import ast
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("service", "projections")

# Layer name -> (module prefixes, the layers it may import from).
LAYERS: dict[str, tuple[tuple[str, ...], tuple[str, ...]]] = {
    "foundation": (
        (
            "service.settings",
            "service.json_codec",
            "service.canonical",
            "service.storage_errors",
            "service.database",
            "service.setup_lock",
            "service.metrics",
            "service.domain",
        ),
        ("foundation",),
    ),
    "read side": (("projections",), ("foundation", "read side")),
    "composition": (
        ("service.bootstrap", "service.projection_worker"),
        ("foundation", "write side", "read side", "composition"),
    ),
    "surfaces": (
        ("service.web", "service.commands", "service.cli", "service.console"),
        ("foundation", "write side", "read side", "composition", "surfaces"),
    ),
    # Everything else in `service`: the log's storage, intake, quarantine, the chain.
    "write side": (("service",), ("foundation", "write side")),
}


def layer_of(module: str) -> str:
    for name, (prefixes, _) in LAYERS.items():
        if any(module == prefix or module.startswith(prefix + ".") for prefix in prefixes):
            return name
    raise AssertionError(f"{module} is in no layer")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imported_modules(path: Path) -> list[tuple[int, str]]:
    """Every project module `path` imports (`from X import y` counts as X and as X.y, since y
    may be a module)."""
    found: list[tuple[int, str]] = []
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Import):
            found.extend((node.lineno, alias.name) for alias in node.names)
        elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
            found.append((node.lineno, node.module))
            found.extend((node.lineno, f"{node.module}.{alias.name}") for alias in node.names)
    # A bare package (`from service import json_codec`) says nothing; its module does.
    return [
        (line, name)
        for line, name in found
        if name.split(".")[0] in PACKAGES and name not in PACKAGES
    ]


def project_modules() -> list[Path]:
    return sorted(path for package in PACKAGES for path in (ROOT / package).rglob("*.py"))


@pytest.mark.parametrize("path", project_modules(), ids=lambda path: module_name(path))
def test_a_module_imports_only_from_the_layers_below_or_beside_it(path: Path) -> None:
    layer = layer_of(module_name(path))
    allowed = LAYERS[layer][1]
    wrong = [
        f"line {line}: {name} ({layer_of(name)})"
        for line, name in imported_modules(path)
        if layer_of(name) not in allowed
    ]
    assert not wrong, f"{module_name(path)} ({layer}) imports against the layers: {wrong}"


def test_the_check_catches_an_import_against_the_layers(tmp_path: Path) -> None:
    offending = ROOT / "projections" / "tickets" / "projection.py"
    imports = {name for _, name in imported_modules(offending)}
    assert not any(layer_of(name) == "write side" for name in imports)
    # The same scan finds a read model that reaches into the write side.
    sample = tmp_path / "sample.py"
    sample.write_text("from service.application import TicketAudit\nimport service.web.app\n")
    names = [name for _, name in imported_modules(sample)]
    assert [layer_of(name) for name in names] == ["write side", "write side", "surfaces"]
    assert "write side" not in LAYERS["read side"][1]
    assert "surfaces" not in LAYERS["write side"][1]
