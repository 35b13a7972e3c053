"""The package layout is a contract: stages are layered and the pure core does no I/O.

The contracts live in pyproject.toml ([tool.importlinter]); ``make test`` runs ``lint-imports``
before pytest, and this test runs it again so ``pytest`` alone catches a broken layer.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _lint_imports() -> str:
    exe = shutil.which("lint-imports", path=str(Path(sys.executable).parent))
    assert exe, "lint-imports is installed with the dev extras (pip install -e '.[dev]')"
    return exe


def test_every_layering_contract_is_kept() -> None:
    result = subprocess.run([_lint_imports(), "--no-cache"], cwd=REPO, capture_output=True,
                            text=True, timeout=600, check=False)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "0 broken" in result.stdout


@pytest.mark.parametrize("package", sorted(
    str(p.parent.relative_to(REPO)) for p in (REPO / "monitor").rglob("__init__.py")
))
def test_every_package_says_what_it_holds_and_may_import(package: str) -> None:
    doc = (REPO / package / "__init__.py").read_text(encoding="utf-8")
    assert doc.startswith('"""') and "TODO" not in doc, f"{package}/__init__.py needs a docstring"
    if package not in ("monitor", "monitor/data"):
        assert "import" in doc, f"{package}/__init__.py should say what it may import"


def test_no_module_sits_outside_a_stage_package() -> None:
    loose = sorted(p.name for p in (REPO / "monitor").glob("*.py"))
    assert loose == ["__init__.py", "__main__.py"]
