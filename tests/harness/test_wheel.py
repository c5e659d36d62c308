"""The wheel, installed the way a project embedding this service as its test harness installs it.

Built from a copy of the package folders (so the checkout gets no build/ or egg-info), installed
with `pip install --no-deps` into a fresh venv in a temporary folder outside the repository, it
must need nothing from the checkout: no contracts/ (the ABIs and bytecode ship inside), no forge,
no node_modules (anvil comes from SETTLEMENT_ANVIL_BIN, as a project that installed it would set
it). The outside project's tests are the README's example and the fault-helper examples.

Dependencies come from this checkout's venv through a .pth file listing a folder of links to its
site-packages entries, minus this project's own (editable) install, so the test is fast and
offline except for pip's isolated build backend.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import sysconfig
import zipfile
from pathlib import Path

import pytest

from settlement.config import PROJECT_ROOT
from settlement.devnet.toolchain import anvil_path
from tests.harness.outside_project import EXPECTED_PASSED, FAULTS_EXAMPLE, README_EXAMPLE

DISTRIBUTION = "stablecoin_settlement"
PACKAGE_FOLDERS = ("settlement", "api", "devnet")
BUILD_TIMEOUT_S = 300
RUN_TIMEOUT_S = 600
# What the project's own install left in its venv: never visible to the outside venv.
OWN_INSTALL_PREFIXES = ("__editable__", DISTRIBUTION, *PACKAGE_FOLDERS)


def _run(cmd: list[str], cwd: Path, timeout_s: float, env: dict[str, str] | None = None) -> str:
    done = subprocess.run(cmd, cwd=cwd, env=env, capture_output=True, text=True, timeout=timeout_s, check=False)
    assert done.returncode == 0, (
        f"{' '.join(cmd)} failed ({done.returncode}):\n{done.stdout[-6000:]}{done.stderr[-6000:]}"
    )
    return done.stdout


def _build_wheel(work: Path) -> Path:
    source = work / "source"
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy2(PROJECT_ROOT / name, source / name)
    for folder in PACKAGE_FOLDERS:
        shutil.copytree(
            PROJECT_ROOT / folder, source / folder, symlinks=True, ignore=shutil.ignore_patterns("__pycache__")
        )
    _run(
        [sys.executable, "-m", "pip", "wheel", str(source), "--no-deps", "-q", "-w", str(work / "dist")],
        work,
        BUILD_TIMEOUT_S,
    )
    (wheel,) = (work / "dist").glob(f"{DISTRIBUTION}-*.whl")
    return wheel


def _dependencies_folder(work: Path) -> Path:
    """Links to every entry of this venv's site-packages except this project's own install."""
    ours = Path(sysconfig.get_paths()["purelib"])
    linked = work / "dependencies"
    linked.mkdir()
    for entry in ours.iterdir():
        if entry.name.startswith(OWN_INSTALL_PREFIXES) or entry.suffix == ".pth":
            continue
        (linked / entry.name).symlink_to(entry)
    return linked


def _fresh_venv(work: Path, dependencies: Path) -> Path:
    venv = work / "venv"
    _run([sys.executable, "-m", "venv", str(venv)], work, BUILD_TIMEOUT_S)
    python = venv / "bin" / "python"
    purelib = _run([str(python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"], work, 60).strip()
    (Path(purelib) / "zz_dependencies.pth").write_text(f"{dependencies}\n")
    return python


@pytest.mark.chain
@pytest.mark.slow
def test_the_wheel_works_as_an_outside_projects_harness(tmp_path_factory: pytest.TempPathFactory) -> None:
    work = tmp_path_factory.mktemp("wheel")
    assert PROJECT_ROOT not in work.parents
    wheel = _build_wheel(work)

    shipped = zipfile.ZipFile(wheel).namelist()
    top_level = {name.split("/")[0] for name in shipped}
    assert top_level == {"settlement", f"{DISTRIBUTION}-0.1.0.dist-info"}, f"generic top-level names: {top_level}"
    assert {
        "settlement/chain/contracts/SettlementToken.json",
        "settlement/chain/contracts/SettlementEscrow.json",
    } <= set(shipped)
    assert "settlement/api/main.py" in shipped and "settlement/devnet/anvil.py" in shipped

    python = _fresh_venv(work, _dependencies_folder(work))
    _run([str(python), "-m", "pip", "install", "--no-deps", "--no-index", "-q", str(wheel)], work, BUILD_TIMEOUT_S)

    project = work / "project"
    project.mkdir()
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    env["SETTLEMENT_ANVIL_BIN"] = str(anvil_path())
    where = _run(
        [
            str(python),
            "-c",
            "import importlib.util, settlement; print(settlement.__file__); "
            "print(importlib.util.find_spec('api'), importlib.util.find_spec('devnet'))",
        ],
        project,
        60,
        env,
    ).split("\n")
    assert str(work / "venv") in where[0] and str(PROJECT_ROOT) not in where[0], where
    assert where[1] == "None None", f"top-level api/devnet importable from the installed wheel: {where[1]}"

    (project / "test_readme.py").write_text(README_EXAMPLE)
    (project / "test_faults.py").write_text(FAULTS_EXAMPLE)
    output = _run([str(python), "-m", "pytest", "-q", "-p", "no:cacheprovider"], project, RUN_TIMEOUT_S, env)
    assert f"{EXPECTED_PASSED} passed" in output, output
    assert not (project / ".settlement").exists() or not any((project / ".settlement").rglob("*.db"))
