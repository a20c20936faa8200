"""The layers are checked, not only drawn: ``lint-imports`` (``make lint``) runs the contracts of
pyproject.toml, and an import against them fails it, naming the import."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("population", "registry", "residence_permit", "settlement", "config")
LINT_IMPORTS = Path(sys.executable).with_name("lint-imports")


def _lint_imports(root: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "PYTHONPATH": str(root), "COLUMNS": "300", "NO_COLOR": "1"}
    return subprocess.run(  # noqa: S603  (our own tool, fixed arguments)
        [str(LINT_IMPORTS), "--no-cache", "--config", str(root / "pyproject.toml")],
        cwd=root,
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_the_tree_keeps_every_layer_contract():
    result = _lint_imports(ROOT)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "Contracts: 4 kept, 0 broken." in result.stdout
    for name in (
        "The apps import only the apps below them",
        "Only the apps above import population.sharing",
        "Only sharing and the apps above import population.sync",
        "Only sharing and the apps above import population.statistics",
    ):
        assert f"{name} KEPT" in result.stdout


@pytest.fixture(scope="module")
def tree_copy(tmp_path_factory) -> Path:
    """The project's Python packages and contracts, copied (only the .py files are read)."""
    root = tmp_path_factory.mktemp("layers")
    shutil.copy(ROOT / "pyproject.toml", root)

    def not_python(directory: str, names: list[str]) -> list[str]:
        return [
            n
            for n in names
            if n == "__pycache__" or (not n.endswith(".py") and not Path(directory, n).is_dir())
        ]

    for package in PACKAGES:
        shutil.copytree(ROOT / package, root / package, ignore=not_python)
    return root


@pytest.mark.parametrize(
    ("module", "imported", "contract"),
    [
        # the core of population reaching up into its own apps
        ("population.probe", "population.sync.models", "population.sync"),
        ("population.probe", "population.statistics.charts", "population.statistics"),
        ("population.probe", "population.sharing.facts", "population.sharing"),
        # the apps inside population reaching sideways or up
        ("population.sync.probe", "population.sharing.scopes", "population.sharing"),
        ("population.statistics.probe", "population.sync.models", "population.sync"),
        ("population.sync.probe", "population.statistics.models", "population.statistics"),
        # a lower app reaching a higher one
        ("population.probe", "registry.models", "The apps import only the apps below them"),
        ("registry.probe", "settlement.models", "The apps import only the apps below them"),
        ("settlement.probe", "config.settings", "The apps import only the apps below them"),
    ],
)
def test_an_upward_import_breaks_a_contract_and_is_named(tree_copy, module, imported, contract):
    probe = tree_copy.joinpath(*module.split(".")).with_suffix(".py")
    probe.write_text(f"import {imported}  # noqa: F401\n")
    try:
        result = _lint_imports(tree_copy)
    finally:
        probe.unlink()

    assert result.returncode == 1, result.stdout + result.stderr
    assert "0 broken" not in result.stdout
    broken = result.stdout.split("Broken contracts", 1)[1]
    assert contract in broken
    assert f"{module} -> {imported}" in broken
