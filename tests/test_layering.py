"""The package layering of docs/design.md: no two packages import each other.

Top level: callbacks may use datamodules and lightning_mllm, datamodules may use lightning_mllm,
lightning_mllm uses neither. Inside lightning_mllm, no two subpackages import each other (shared
pieces live in top-level modules of lightning_mllm, below both users).
"""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PACKAGES = ("lightning_mllm", "datamodules", "callbacks")
ALLOWED_TOP = {("callbacks", "datamodules"), ("callbacks", "lightning_mllm"), ("datamodules", "lightning_mllm")}


def _module_name(path: Path) -> str:
    parts = list(path.relative_to(ROOT).with_suffix("").parts)
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _imported(path: Path) -> set[str]:
    """Every module named by an import in ``path`` (inside functions too), relative ones resolved."""
    module = _module_name(path)
    package = module.split(".") if path.name == "__init__.py" else module.split(".")[:-1]
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = package[: len(package) - node.level + 1] if node.level else []
            target = ".".join(base + ([node.module] if node.module else []))
            names.add(target)
            names.update(f"{target}.{alias.name}" for alias in node.names)  # "from pkg import submodule"
    return names


def _unit(module: str) -> str | None:
    """The layering unit of a module: a top-level package, or a subpackage of lightning_mllm."""
    parts = module.split(".")
    if parts[0] not in PACKAGES:
        return None
    if parts[0] == "lightning_mllm" and len(parts) > 1 and (ROOT / "lightning_mllm" / parts[1]).is_dir():
        return f"lightning_mllm.{parts[1]}"
    return parts[0]


def _inside_lightning_mllm_top(user: str, used: str) -> bool:
    return "lightning_mllm" in (user, used) and user.startswith("lightning_mllm") and used.startswith("lightning_mllm")


def edges() -> dict[tuple[str, str], str]:
    """(user unit, used unit) -> one file that shows the import."""
    found = {}
    for package in PACKAGES:
        for path in sorted((ROOT / package).rglob("*.py")):
            user = _unit(_module_name(path))
            for name in _imported(path):
                used = _unit(name)
                # A subpackage and the top-level modules of lightning_mllm may use each other: the
                # commands (bench.py, evaluate.py) sit above the subpackages, the shared modules
                # (files.py, processor.py) below them, and both are top-level modules.
                if used and used != user and not _inside_lightning_mllm_top(user, used):
                    found.setdefault((user, used), str(path.relative_to(ROOT)))
    return found


def test_no_two_packages_import_each_other():
    found = edges()
    cycles = sorted(f"{a} <-> {b} ({found[(a, b)]} / {found[(b, a)]})" for a, b in found if (b, a) in found and a < b)
    assert not cycles, "packages that import each other: " + "; ".join(cycles)


def test_top_level_packages_import_downwards_only():
    top = {(a.split(".")[0], b.split(".")[0]): where for (a, b), where in edges().items()
           if a.split(".")[0] != b.split(".")[0]}
    upward = sorted(f"{a} -> {b} ({where})" for (a, b), where in top.items() if (a, b) not in ALLOWED_TOP)
    assert not upward, "imports against the layering of docs/design.md: " + "; ".join(upward)
