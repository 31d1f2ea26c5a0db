"""The wheel holds every module, clause and template of the source tree, under the clauseguard namespace.

setuptools maps the four top-level folders into ``clauseguard.*`` (see pyproject.toml); a module or a
sub-package that is not listed there, or a data file that no package-data glob matches, would work in
an editable install and be missing for everyone who installs the wheel. The test builds the wheel from
a copy of the tree (so the checkout gets no ``build/`` folder) without network or build isolation.
"""

from __future__ import annotations

import shutil
import subprocess
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
# source folder -> (folder inside the wheel, the files that must be shipped from it)
SHIPPED = {
    "clauseguard": ("clauseguard", ("*.py",)),
    "guards": ("clauseguard/guards",
               ("*.py", "py.typed", "data/**/*", "templates/**/*", "static/**/*", "*.mako", "*.ini")),
    "generator": ("clauseguard/generator", ("*.py", "py.typed", "data/**/*")),
    "clauses": ("clauseguard/clauses", ("*.py", "*.md", "*.yaml")),
    "templates": ("clauseguard/templates", ("*.py", "*.md", "*.yaml", "*.css", "*.html")),
    "examples": ("clauseguard/examples", ("*/profile.yaml",)),  # lint renders every clause with them
}


def _source_files() -> set[str]:
    """Where each file of the source tree must land in the wheel."""
    expected = set()
    for folder, (target, patterns) in SHIPPED.items():
        for pattern in patterns:
            for path in (ROOT / folder).rglob(pattern):
                if path.is_file() and "__pycache__" not in path.parts:
                    expected.add(f"{target}/{path.relative_to(ROOT / folder).as_posix()}")
    return expected


@pytest.fixture(scope="module")
def wheel(built_wheel: Path) -> Path:
    return built_wheel


@pytest.fixture(scope="module")
def wheel_names(wheel: Path) -> set[str]:
    with zipfile.ZipFile(wheel) as archive:
        return set(archive.namelist())


@pytest.fixture(scope="module")
def wheel_metadata(wheel: Path) -> str:
    with zipfile.ZipFile(wheel) as archive:
        return archive.read("clauseguard-0.1.0.dist-info/METADATA").decode()


def test_every_source_file_is_in_the_wheel(wheel_names: set[str]) -> None:
    assert sorted(_source_files() - wheel_names) == []


@pytest.mark.parametrize("folder", ["clauses", "templates"])
def test_lawyer_data_is_shipped(wheel_names: set[str], folder: str) -> None:
    shipped = {n for n in wheel_names if n.startswith(f"clauseguard/{folder}/") and n.endswith((".md", ".yaml"))}
    assert shipped, f"no clause or template file in the wheel under clauseguard/{folder}/"
    assert "clauseguard/clauses/licences/registry.yaml" in wheel_names


def test_nothing_is_installed_as_a_bare_top_level_module(wheel_names: set[str]) -> None:
    tops = {n.split("/", 1)[0] for n in wheel_names}
    assert {t for t in tops if not t.endswith(".dist-info")} == {"clauseguard"}


def test_both_licences_are_declared_and_shipped(wheel_names: set[str], wheel_metadata: str) -> None:
    """Apache-2.0 for the code, CC-BY-4.0 for the clauses and templates: in the metadata and the files."""
    assert "License-Expression: Apache-2.0 AND CC-BY-4.0" in wheel_metadata.splitlines()
    for name in ("LICENSE", "clauses/LICENSE.md", "templates/LICENSE.md"):
        assert f"License-File: {name}" in wheel_metadata.splitlines()
        assert f"clauseguard-0.1.0.dist-info/licenses/{name}" in wheel_names


def test_console_script_is_declared(wheel_names: set[str]) -> None:
    (entry_points,) = [n for n in wheel_names if n.endswith(".dist-info/entry_points.txt")]
    assert entry_points


def test_make_installs_the_cpu_build_of_torch() -> None:
    """PyPI's Linux torch is the CUDA build (GBs of nvidia-* wheels): the Makefile asks PyTorch's CPU index."""
    if shutil.which("make") is None:
        pytest.skip("make is not installed")
    dry = subprocess.run(["make", "-n", "-W", "Makefile", "VENV=/nonexistent/venv", "/nonexistent/venv/.installed"],
                         cwd=ROOT, capture_output=True, text=True, check=True).stdout
    installs = [line for line in dry.splitlines() if "pip install" in line and "--upgrade pip" not in line]
    # torch first, from the CPU index: the extras' requirements would pull the CUDA build
    assert " torch==" in installs[0] and "--extra-index-url https://download.pytorch.org/whl/cpu" in installs[0]
