"""The wheel and the sdist hold everything a user runs, and the tree has one module identity.

Builds both from this checkout, installs the wheel into a fresh virtualenv outside the
checkout and runs ``netstage classify example:stage2`` and ``netstage demo`` there. The
fresh venv borrows the project venv's third-party packages through a ``.pth`` line (the
test is about what *our* wheel contains, and a clean download of numba/scipy would make
the suite depend on the network); a ``.pth`` line is not processed as a site dir, so the
project's editable install is not visible there, which the test checks.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import sysconfig
import tarfile
import zipfile
from pathlib import Path

import pytest

from .support import ROOT

pytestmark = pytest.mark.slow


def test_no_symlinks_in_the_tree() -> None:
    tracked = subprocess.run(["git", "ls-files", "-s"], cwd=ROOT, capture_output=True,
                             text=True, check=True).stdout.splitlines()
    links = [line.split("\t", 1)[1] for line in tracked if line.startswith("120000")]
    assert links == [], f"symlinks in the tree: {links}"


def test_one_identity_per_module() -> None:
    # The repository root is on sys.path under pytest; the bare names must not exist there.
    import importlib.util

    for bare in ("simulator", "auditor", "topologies"):
        spec = importlib.util.find_spec(bare)
        assert spec is None or ROOT not in Path(spec.origin or "/").parents, bare


@pytest.fixture(scope="module")
def dists(tmp_path_factory: pytest.TempPathFactory) -> dict[str, Path]:
    out = tmp_path_factory.mktemp("dist")
    # Build from a copy of the checkout without caches and build output: other test
    # processes (pytest-xdist workers) write numba's kernel cache into __pycache__ while
    # this runs, and a file that vanishes between setuptools' listing and its copy fails
    # the build. What the copy leaves out is never package content.
    src = tmp_path_factory.mktemp("src") / "netstage-src"
    shutil.copytree(ROOT, src, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "dist", "*.egg-info", "__pycache__", ".*_cache", "out"))
    built = subprocess.run([sys.executable, "-m", "build", "--wheel", "--sdist",
                            "--no-isolation", "--outdir", str(out), str(src)],
                           capture_output=True, text=True, timeout=300)
    assert built.returncode == 0, (built.stdout + built.stderr)[-3000:]
    wheel = next(out.glob("netstage-*.whl"))
    sdist = next(out.glob("netstage-*.tar.gz"))
    return {"wheel": wheel, "sdist": sdist}


def test_wheel_and_sdist_contents(dists: dict[str, Path]) -> None:
    names = set(zipfile.ZipFile(dists["wheel"]).namelist())
    for needed in ("netstage/topologies/stage2-organic.yaml",
                   "netstage/topologies/captures/lakeview-busy-hour-sample.pcapng",
                   "netstage/simulator/data/rubric.yaml",
                   "netstage/auditor/data/device_kinds.yaml",
                   "netstage/cli/__init__.py",
                   "netstage/py.typed"):
        assert needed in names, needed
    assert not any(n.startswith(("simulator/", "auditor/", "tests/")) for n in names)
    with tarfile.open(dists["sdist"]) as tar:
        members = {m.split("/", 1)[1] for m in tar.getnames() if "/" in m}
    assert "netstage/topologies/stage4-transformational.yaml" in members
    assert "netstage/simulator/model.py" in members


def test_installed_wheel_runs_outside_the_checkout(dists: dict[str, Path],
                                                   tmp_path: Path) -> None:
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    py = venv / "bin" / "python"
    site = Path(subprocess.run([str(py), "-c", "import sysconfig;print(sysconfig.get_paths()"
                                "['purelib'])"], capture_output=True, text=True,
                               check=True).stdout.strip())
    (site / "project-deps.pth").write_text(sysconfig.get_paths()["purelib"] + "\n")
    subprocess.run([sys.executable, "-m", "pip", "install", "-q", "--no-deps", "--no-index",
                    "--target", str(site), str(dists["wheel"])], check=True, timeout=300)
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH",)}
    env.update(COLUMNS="200", NO_COLOR="1")
    where = subprocess.run([str(py), "-c", "import netstage;print(netstage.__file__)"],
                           capture_output=True, text=True, cwd=tmp_path, env=env, check=True)
    assert Path(where.stdout.strip()).is_relative_to(venv), where.stdout
    cls = subprocess.run([str(py), "-m", "netstage", "classify", "example:stage2", "--json"],
                         capture_output=True, text=True, cwd=tmp_path, env=env, timeout=300)
    assert cls.returncode == 0, cls.stderr
    assert json.loads(cls.stdout)["stage"] == 2
    demo = subprocess.run([str(py), "-m", "netstage", "demo", "--out", str(tmp_path / "demo")],
                          capture_output=True, text=True, cwd=tmp_path, env=env, timeout=600)
    assert demo.returncode == 0, demo.stdout + demo.stderr
    assert (tmp_path / "demo" / "report" / "report.html").is_file()
