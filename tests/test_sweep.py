"""State-wide sweeps: per-district rows, error rows, identical results with and without Dask.

The Dask tests use real ``distributed`` clusters on 127.0.0.1: a ``LocalCluster`` with
1 and with 2 worker processes, and a separately started ``dask scheduler`` plus
``dask worker`` (subprocesses) reached with ``--scheduler tcp://...``.
"""

from __future__ import annotations

import csv
import json
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from netstage.simulator.errors import NetstageError
from netstage.simulator.io import load_district
from netstage.simulator.study import Study
from netstage.simulator.sweep import (
    NO_PLAN_NOTE,
    DistrictSpec,
    Evaluation,
    SweepRow,
    classify_evaluator,
    derive_seed,
    evaluate_spec,
    file_specs,
    load_spec,
    run_in_process,
    synthetic_specs,
)
from netstage.simulator.sweep_output import summarise_rows, write_charts, write_table

from .support import ROOT, CliRunner, example_districts

pytest.importorskip("distributed")

N_SCENARIOS = 20


def slow_classify(study: Study) -> Evaluation:
    """The real classification, slowed a little so both workers of a cluster get tasks."""
    time.sleep(0.15)
    return classify_evaluator(study)


def priced(study: Study) -> Evaluation:
    """A stand-in evaluator whose answers follow from the district alone (for the charts)."""
    students = study.district.total_students
    stage = 1 + students % 4
    cost = None if stage == 4 else 10.0 * students
    return Evaluation(stage=stage, binding=(f"R-{stage}",), next_stage_cost_usd=cost)


def crashes(study: Study) -> Evaluation:
    """An evaluator with a bug on one district (a non-netstage exception)."""
    if study.district.total_students % 2:
        raise ZeroDivisionError("bug in an evaluator")
    return priced(study)


@pytest.fixture
def specs(tmp_path: Path) -> list[DistrictSpec]:
    broken = tmp_path / "broken.yaml"
    broken.write_text("district: {name: x\n")
    files = [*example_districts(), broken, tmp_path / "missing.yaml"]
    return file_specs(files, base_seed=3) + synthetic_specs(3, base_seed=3, max_students=2000)


def _identity(rows: list[SweepRow]) -> list[dict[str, Any]]:
    return [r.identity() for r in rows]


def test_seeds_depend_on_key_and_base_only() -> None:
    seeds = {derive_seed(f"d{i}", 0) for i in range(200)}
    assert len(seeds) == 200 and all(0 <= s < 2**31 for s in seeds)
    assert derive_seed("a", 0) != derive_seed("a", 1)
    # a fresh interpreter with a different hash salt derives the same seeds
    code = ("from netstage.simulator.sweep import derive_seed;"
            "print(derive_seed('lakeside', 5), derive_seed('gen-0-0001', 0))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         env={**os.environ, "PYTHONHASHSEED": "12345"}, check=True, timeout=60)
    assert out.stdout.split() == [str(derive_seed("lakeside", 5)),
                                  str(derive_seed("gen-0-0001", 0))]


def test_file_keys_and_synthetic_mix(tmp_path: Path) -> None:
    a, b = tmp_path / "a" / "x.yaml", tmp_path / "b" / "x.yaml"
    keys = [s.key for s in file_specs([a, b, a, tmp_path / "y.yaml"])]
    assert keys == ["a/x", "b/x", "a/x+", "y"]
    gen = synthetic_specs(40, base_seed=1)
    assert gen == synthetic_specs(40, base_seed=1)
    assert gen != synthetic_specs(40, base_seed=2)
    students = [s.generate["students"] for s in gen if s.generate]
    assert min(students) < 1500 and max(students) > 8000  # mixed sizes
    for spec in gen[:5]:
        d = load_spec(spec)
        assert d.total_students == spec.generate["students"]  # type: ignore[index]


def test_failures_are_rows(specs: list[DistrictSpec]) -> None:
    rows = run_in_process(specs, N_SCENARIOS, priced)
    by_key = {r.key: r for r in rows}
    assert [r.key for r in rows] == [s.key for s in specs]
    assert "malformed YAML" in (by_key["broken"].error or "")
    assert "broken.yaml:2" in (by_key["broken"].error or "")
    assert "no such file" in (by_key["missing"].error or "")
    assert by_key["broken"].stage is None and by_key["broken"].students is None
    ok = [r for r in rows if r.error is None]
    assert len(ok) == len(specs) - 2
    for path in example_districts():
        row = by_key[path.stem]
        assert row.students == load_district(path).total_students
    bug = run_in_process(specs, N_SCENARIOS, crashes)
    odd = [r for r in bug if r.students is not None and r.students % 2]
    assert odd and all(r.error == "ZeroDivisionError: bug in an evaluator" for r in odd)
    assert all(r.error is None for r in bug if r.students is not None and not r.students % 2)


def test_row_prices_the_studys_plan_and_a_failed_plan_is_a_note(
        monkeypatch: pytest.MonkeyPatch) -> None:
    spec = file_specs([example_districts()[0]])[0]
    row = evaluate_spec(spec, N_SCENARIOS)
    assert row.error is None and row.stage is not None and row.stage < 4
    # the study the row is made of: the spec's district, the sweep's scenarios, the
    # spec's seed; its cheapest plan to the next stage is the row's cost
    ref = Study(load_spec(spec), n_scenarios=N_SCENARIOS, seed=spec.seed)
    assert row.stage == ref.stage and row.binding == ref.classify().binding
    assert row.next_stage_cost_usd == ref.plan(row.stage + 1).cost_usd
    asked: list[tuple[int | None, int]] = []

    def no_plan(self: Study, target: int | None = None, **kw: Any) -> Any:
        asked.append((target, self.classify().stage))
        raise NetstageError("the catalogue has no action for that")

    monkeypatch.setattr(Study, "plan", no_plan)
    row2 = evaluate_spec(spec, N_SCENARIOS)
    assert asked == [(row.stage + 1, row.stage)]
    assert row2.error is None and row2.stage == row.stage
    assert row2.next_stage_cost_usd is None
    assert row2.note == f"no plan to stage {row.stage + 1}: the catalogue has no action for that"


def test_table_files_and_charts(specs: list[DistrictSpec], tmp_path: Path) -> None:
    import matplotlib.image as mpimg

    rows = run_in_process(specs, N_SCENARIOS, priced)
    ok = [load_spec(s) for s in specs if s.key not in ("broken", "missing")]
    summary = summarise_rows(rows)
    expect_stage = [1 + d.total_students % 4 for d in ok]
    assert summary["failed"] == 2
    assert summary["districts_per_stage"] == {str(k): expect_stage.count(k) for k in (1, 2, 3, 4)}
    assert summary["students_per_stage"]["1"] == sum(
        d.total_students for d, s in zip(ok, expect_stage, strict=True) if s == 1)
    assert summary["cost_to_next_stage_usd"] == pytest.approx(
        sum(10.0 * d.total_students for d, s in zip(ok, expect_stage, strict=True) if s < 4))
    files = write_table(rows, tmp_path / "out")
    with files["csv"].open() as fh:
        table = list(csv.DictReader(fh))
    assert [t["key"] for t in table] == [r.key for r in rows]
    assert table[0]["binding"] == ";".join(rows[0].binding)
    stored = json.loads(files["json"].read_text())
    assert stored["summary"] == summary and len(stored["rows"]) == len(rows)
    charts = write_charts(rows, tmp_path / "out")
    assert set(charts) == {"stage_distribution", "students_per_stage", "cost_to_next_stage"}
    for path in charts.values():
        img = mpimg.imread(path)
        assert img.shape[0] > 200 and img.shape[1] > 300
        assert img.std() > 0.01  # not a blank canvas


def test_same_rows_without_dask_and_on_1_and_2_workers(specs: list[DistrictSpec]) -> None:
    from netstage.auditor.sweep_dask import run_sweep

    # classification only (the Monte Carlo rules use the seed); planning is slow and
    # its wiring is tested in-process below
    base = run_in_process(specs, N_SCENARIOS, classify_evaluator)
    assert sum(r.error is None for r in base) == len(specs) - 2
    by_key = {r.key: r for r in base}
    for path in example_districts():  # the examples are named after their stage
        assert by_key[path.stem].stage == int(path.stem[5])
    seen: list[str] = []
    one = run_sweep(specs, n_scenarios=N_SCENARIOS, workers=1, evaluate=classify_evaluator,
                    on_row=lambda r: seen.append(r.key), batch_size=3)
    two = run_sweep(specs, n_scenarios=N_SCENARIOS, workers=2, evaluate=slow_classify)
    assert sorted(seen) == sorted(s.key for s in specs)  # progress saw every row
    assert _identity(one) == _identity(base)
    assert _identity(two) == _identity(base)
    pids = {r.worker_pid for r in two}
    assert len(pids) == 2 and os.getpid() not in pids  # really ran on two worker processes
    assert {r.worker_pid for r in one} != {os.getpid()}


_THREADS_PROBE = """
import os, sys
import numba  # imported before the cluster starts, as by `netstage sweep`'s own imports
import distributed
from netstage.auditor.sweep_dask import local_cluster

def probe():
    import numba
    return numba.get_num_threads()

if __name__ == "__main__":
    with local_cluster(2) as cluster, distributed.Client(cluster) as client:
        print(sorted(client.run(probe).values()), numba.get_num_threads(),
              os.environ.get("NUMBA_NUM_THREADS"))
"""


def test_local_cluster_workers_run_numba_on_one_thread(tmp_path: Path) -> None:
    """Each worker's numba uses one thread even when the main module imported numba
    first (with Dask's ``env=`` alone the workers ran numba on every core and two
    workers were slower than one); the parent keeps its own setting."""
    script = tmp_path / "probe.py"
    script.write_text(_THREADS_PROBE)
    env = {**os.environ, "NUMBA_NUM_THREADS": "2"}
    out = subprocess.run([sys.executable, str(script)], capture_output=True, text=True,
                         env=env, timeout=120, check=True)
    assert out.stdout.split() == ["[1,", "1]", "2", "2"], out.stdout + out.stderr


def test_batches_cover_every_district_biggest_first() -> None:
    from netstage.auditor.sweep_dask import MAX_BATCH, plan_batches
    from netstage.simulator.errors import ConfigError

    specs = synthetic_specs(200, base_seed=0)
    students = [s.generate["students"] for s in specs]  # type: ignore[index]
    for workers in (1, 2, 8):
        batches = plan_batches(specs, workers)
        flat = [i for b in batches for i in b]
        assert sorted(flat) == list(range(200))  # every district exactly once
        assert [students[i] for i in flat] == sorted(students, reverse=True)
        assert all(1 <= len(b) <= MAX_BATCH for b in batches)
        assert len(batches[0]) < len(batches[-2])  # big districts in small tasks
        assert len(batches) >= 2 * workers  # enough tasks to keep every worker busy
    assert [len(b) for b in plan_batches(specs[:7], 2, batch_size=3)] == [3, 3, 1]
    with pytest.raises(ConfigError, match="batch size"):
        plan_batches(specs, 2, batch_size=0)


def _free_tcp_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.fixture
def dask_scheduler(tmp_path: Path) -> Iterator[str]:
    """A real ``dask scheduler`` and one ``dask worker`` on 127.0.0.1 (subprocesses)."""
    import distributed

    dask_bin = Path(sys.executable).parent / "dask"
    port = _free_tcp_port()
    address = f"tcp://127.0.0.1:{port}"
    env = {**os.environ, "PYTHONPATH": str(ROOT), "NUMBA_NUM_THREADS": "1"}
    log = (tmp_path / "dask.log").open("w")
    procs = [subprocess.Popen([str(dask_bin), "scheduler", "--host", "127.0.0.1", "--port",
                               str(port), "--no-dashboard"], stdout=log, stderr=log, env=env,
                              cwd=ROOT)]
    try:
        procs.append(subprocess.Popen(
            [str(dask_bin), "worker", address, "--host", "127.0.0.1", "--nworkers", "1",
             "--nthreads", "1", "--no-dashboard"], stdout=log, stderr=log, env=env, cwd=ROOT))
        with distributed.Client(address, timeout=60) as client:
            client.wait_for_workers(1, timeout=60)
        yield address
    finally:
        if len(procs) == 2 and procs[0].poll() is None:
            try:  # the scheduler stops its workers, faster than SIGTERM to the nanny
                with distributed.Client(address, timeout=10) as client:
                    client.shutdown()
            except (OSError, RuntimeError):
                pass
        for p in reversed(procs):
            if p.poll() is None:
                p.terminate()
        for p in procs:
            try:
                p.wait(timeout=20)
            except subprocess.TimeoutExpired:
                p.kill()
                p.wait(timeout=10)
        log.close()


def test_cli_sweep_on_existing_scheduler(dask_scheduler: str, run_cli: CliRunner,
                                         tmp_path: Path) -> None:
    topo = str(ROOT / "netstage" / "topologies")
    # a relative path: the worker runs in another directory and must still find it
    mine = tmp_path / "mine.yaml"
    mine.write_text((ROOT / "netstage" / "topologies" / "stage2-organic.yaml").read_text())
    r = run_cli("sweep", topo, "mine.yaml", "--generate", "1", "--seed", "2", "--scheduler",
                dask_scheduler, "--scenarios", str(N_SCENARIOS), "--out", "remote", "--json",
                "--no-plan")
    assert r.returncode == 0, r.stderr
    assert "scheduler tcp://127.0.0.1" in r.stderr
    remote = json.loads(r.stdout)
    local = run_in_process(file_specs([*example_districts(), mine], 2) + synthetic_specs(1, 2),
                           N_SCENARIOS, classify_evaluator)
    assert all(row["note"] == NO_PLAN_NOTE for row in remote["rows"] if row["stage"] < 4)
    assert [{k: v for k, v in row.items() if k not in ("elapsed_s", "cpu_s", "worker_pid")}
            for row in remote["rows"]] == _identity(local)
    assert remote["rows"][4]["stage"] == 2 and remote["rows"][4]["file"] == str(mine)
    assert (tmp_path / "remote" / "state.csv").exists()


def test_cli_sweep_in_process_with_failures(run_cli: CliRunner, tmp_path: Path) -> None:
    (tmp_path / "bad.yaml").write_text("district:\n  name: [unclosed\n")
    # the examples whose plans are quick (stage 3's planner run takes tens of seconds)
    examples = [p for p in example_districts() if not p.stem.startswith("stage3")]
    r = run_cli("sweep", *map(str, examples), "bad.yaml", "--workers", "0",
                "--scenarios", str(N_SCENARIOS), "--out", "res", "--json")
    assert r.returncode == 1, r.stderr  # one district failed: reported, not aborted
    out = json.loads(r.stdout)
    assert out["summary"]["districts"] == 4 and out["summary"]["failed"] == 1
    bad = next(row for row in out["rows"] if row["key"] == "bad")
    assert "bad.yaml" in bad["error"]
    rows = {row["key"]: row for row in out["rows"] if row["error"] is None}
    for path in examples:
        row = rows[path.stem]
        assert row["district"] == load_district(path).district.name
        assert row["stage"] == int(path.stem[5])
        if row["stage"] < 4:  # priced by the planner
            assert row["next_stage_cost_usd"] > 0, row
        else:
            assert row["next_stage_cost_usd"] is None
    assert out["summary"]["cost_to_next_stage_usd"] == pytest.approx(
        sum(row["next_stage_cost_usd"] or 0 for row in rows.values()))
    for name in ("state.csv", "state.json", "stage_distribution.png", "students_per_stage.png",
                 "cost_to_next_stage.png"):
        assert (tmp_path / "res" / name).stat().st_size > 0
    both = run_cli("sweep", "--generate", "1", "--workers", "1", "--scheduler",
                   "tcp://127.0.0.1:9")
    assert both.returncode != 0 and "--scheduler" in both.stderr
    none = run_cli("sweep")
    assert none.returncode != 0 and "--generate" in none.stderr


def test_unreachable_scheduler_is_a_config_error() -> None:
    from netstage.auditor.sweep_dask import run_sweep
    from netstage.simulator.errors import ConfigError

    specs = synthetic_specs(1)
    with pytest.raises(ConfigError, match="cannot reach the Dask scheduler"):
        run_sweep(specs, scheduler=f"tcp://127.0.0.1:{_free_tcp_port()}",
                  connect_timeout_s=2)
    with pytest.raises(ConfigError, match="tcp://HOST:PORT"):
        run_sweep(specs, scheduler="127.0.0.1:8786")
