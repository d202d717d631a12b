"""Start-up cost of the CLI (issue 15 item 5): heavy libraries load when a command
needs them, not when `netstage` starts; the shortcuts taken keep behaviour."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

from netstage.simulator import io

HEAVY = ("numpy", "numba", "scipy", "matplotlib", "igraph", "networkx", "dask", "pysnmp",
         "scapy", "pydantic")


def _loaded_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport sys\nprint(' '.join(sys.modules))"],
        check=True, capture_output=True, text=True).stdout
    return {m.split(".")[0] for m in out.split()}


def test_cli_start_imports_no_heavy_library() -> None:
    loaded = _loaded_after("import netstage.cli")
    assert not loaded & set(HEAVY), sorted(loaded & set(HEAVY))


def test_graph_analysis_does_not_import_matplotlib() -> None:
    loaded = _loaded_after("import netstage.simulator.redundancy\n"
                           "import netstage.simulator.availability")
    assert "igraph" in loaded
    assert "matplotlib" not in loaded


def test_matplotlib_still_imports_after_igraph() -> None:
    loaded = _loaded_after("from netstage.simulator._igraph import ig\n"
                           "import matplotlib.pyplot\n"
                           "assert ig.Graph(3, [(0, 1), (1, 2)]).bridges() == [0, 1]")
    assert {"igraph", "matplotlib"} <= loaded


def test_cli_default_scenarios_match_the_library() -> None:
    from netstage.cli.stage_cmds import DEFAULT_N_SCENARIOS
    from netstage.simulator.stage import DEFAULT_N_SCENARIOS as LIB

    assert DEFAULT_N_SCENARIOS == LIB


def _nested(levels: int, alias: bool) -> str:
    text = "leaf: &x 1\nroot: " + "[" * levels + ("*x" if alias else "1") + "]" * levels
    return text + "\n"


@pytest.mark.parametrize("levels", [1, 10, 61, 62, 63, 64, 65])
@pytest.mark.parametrize("alias", [False, True])
def test_skipping_the_expansion_pass_without_aliases_keeps_the_verdict(
        levels: int, alias: bool) -> None:
    """With no alias the composer's node count and height decide as _check_expansion
    would: the same files load and the same files are refused."""
    text = _nested(levels, alias)
    try:
        io.load_yaml_located(text, "t.yaml")
        got = None
    except io.ConfigError as exc:
        got = str(exc)
    loader = io._InputLoader(text, "t.yaml")
    try:
        root = loader.compose_checked()
        assert root is not None
        io._check_expansion(root, "t.yaml")  # the pass, always run
        want = None
    except io.ConfigError as exc:
        want = str(exc)
    finally:
        loader.dispose()
    assert got == want


def test_capture_without_control_frames_does_not_import_scapy(tmp_path: Path) -> None:
    """scapy (about a second of imports) loads only for LLDP/CDP/STP/DHCP frames."""
    import struct

    eth = bytes(6) + bytes([2, 0, 0, 0, 0, 1]) + b"\x08\x00"
    udp = struct.pack(">HHHH", 5000, 6000, 8 + 4, 0) + b"data"
    ip = struct.pack(">BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 1, 0, 64, 17, 0,
                     bytes([10, 0, 0, 1]), bytes([10, 0, 0, 2]))
    frame = eth + ip + udp
    f = tmp_path / "udp.pcap"
    f.write_bytes(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 65535, 1)
                  + struct.pack("<IIII", 1, 0, len(frame), len(frame)) + frame)
    loaded = _loaded_after("from netstage.auditor.capture import analyse_capture\n"
                           f"s = analyse_capture({str(f)!r})\n"
                           "assert s.packets == 1 and s.neighbours == []")
    assert "scapy" not in loaded


def test_simulation_kernels_load_without_scipy_linalg() -> None:
    """numba's CPU target starts without importing scipy.linalg (_numba_start.py): a
    simulation runs, scipy.linalg is not loaded by it, and afterwards it still imports
    and numba still compiles np.dot with BLAS."""
    code = (
        "import sys\n"
        "from netstage.simulator.examples import resolve_district\n"
        "from netstage.simulator.io import load_district\n"
        "from netstage.simulator.arrays import to_arrays\n"
        "from netstage.simulator.simulate import simulate\n"
        "d = load_district(resolve_district('example:stage2-organic'))\n"
        "r = simulate(to_arrays(d), n_scenarios=3, seed=1)\n"
        "assert r.n_scenarios == 3\n"
        "print('LINALG', 'scipy.linalg' in sys.modules)\n"
        "import numpy as np, numba, scipy.linalg\n"
        "f = numba.njit(lambda a, b: np.dot(a, b))\n"
        "assert f(np.ones((2, 2)), np.ones((2, 2))).sum() == 8.0\n"
    )
    out = subprocess.run([sys.executable, "-c", code], check=True, capture_output=True,
                         text=True).stdout
    assert "LINALG False" in out, out
