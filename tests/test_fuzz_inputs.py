"""Fuzz every YAML loader: a mutated input gives a NetstageError or a result, never a crash.

A seeded mutation generator (reproducible: the seed and the failing input are printed)
derives inputs from the shipped examples and data files, by text mutations (deleted,
duplicated or re-indented lines, hostile tokens such as aliases, deep nesting, tabs,
unquoted versions, huge numbers, truncation) and by data mutations (a value replaced by
one of another type, a key removed or added) that keep the YAML valid so the model
validators are reached. Each input runs in-process through the loader functions the CLI
uses; a few subprocess cases check the CLI maps the errors to exit code 1.

``NETSTAGE_FUZZ_N`` changes the number of inputs (default 10,000, well under a minute).
"""

from __future__ import annotations

import copy
import itertools
import os
import random
import re
import subprocess
import sys
import time
import traceback
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from netstage.auditor.capture.apps import load_mapping
from netstage.auditor.inventory import load_inventory
from netstage.simulator.availability import load_reliability
from netstage.simulator.errors import NetstageError, NetstageWarning
from netstage.simulator.io import load_district
from netstage.simulator.plan import load_catalog
from netstage.simulator.profiles import load_apps, load_scenarios
from netstage.simulator.rules.rubric import default_rubric, load_overrides

from .support import ROOT, TOPOLOGIES

DATA = ROOT / "netstage" / "simulator" / "data"
N_INPUTS = int(os.environ.get("NETSTAGE_FUZZ_N", "10000"))
SEED = int(os.environ.get("NETSTAGE_FUZZ_SEED", "20261207"))

INVENTORY = """\
concurrency: 4
defaults: {timeout_s: 3, retries: 2}
credentials:
  v3: {version: v3, user: auditor, auth_protocol: sha256, auth_key: env:FUZZ_AUTH,
       priv_protocol: aes256-cisco, priv_key: env:FUZZ_PRIV}
  legacy: {version: v2c, community: env:FUZZ_COMM}
targets:
  - {name: core, address: 10.0.0.1, credentials: v3, timeout_s: 5}
  - {range: 10.0.1.0/30, credentials: [v3, legacy]}
  - {range: 10.0.2.10-10.0.2.12, credentials: legacy, port: 1161}
discovery: {seeds: [10.0.0.1], credentials: [v3], allowed_networks: [10.0.0.0/8]}
"""

MAPPING = """\
classes: [video, cloud]
default: other
domains:
  video: [youtube.com, "*.googlevideo.com"]
ports:
  - {class: video, proto: udp, ports: [3478, "5000-5010"]}
"""


def _overrides_seed() -> str:
    rubric = default_rubric()
    rid, spec = next(iter(rubric.rules.items()))
    name = next(iter(spec.thresholds))
    return f"note: fuzz\nrules:\n  {rid}:\n    {name}: 1\n"


def _trimmed(name: str, key: str, keep: int) -> str:
    """A shipped data file with only the first ``keep`` entries of ``key`` (faster)."""
    data = yaml.safe_load((DATA / name).read_text("utf-8"))
    data[key] = dict(list(data[key].items())[:keep])
    return yaml.safe_dump(data, sort_keys=False)


def _small_district() -> str:
    return (TOPOLOGIES / "stage1-lab-era.yaml").read_text(encoding="utf-8")


# name -> (loader taking a path, seed texts)
Loader = Callable[[Path], Any]
LOADERS: dict[str, tuple[Loader, list[str]]] = {
    "district": (load_district, [_small_district(),
                                 (TOPOLOGIES / "stage2-organic.yaml").read_text("utf-8")]),
    "inventory": (load_inventory, [INVENTORY]),
    "overrides": (load_overrides, [_overrides_seed()]),
    "catalog": (load_catalog, [_trimmed("upgrades.yaml", "actions", 4)]),
    "apps": (load_apps, [(DATA / "apps.yaml").read_text("utf-8")]),
    "scenarios": (lambda p: load_scenarios(p), [_trimmed("scenarios.yaml", "scenarios", 2)]),
    "reliability": (load_reliability, [(DATA / "reliability.yaml").read_text("utf-8")]),
    "mapping": (load_mapping, [MAPPING]),
}

HOSTILE = [
    "&a ", "*a", "*nosuch", "a: &a [*a]", "<<: *a", "[", "]", "{", "}", ": ", "- ", "? ",
    "'", '"', "\t", "\x00", "\ufeff", "\u202e", "%YAML 1.1\n---\n", "---\n", "...\n",
    "!!binary AAAA", "!!python/object:os.system", "!!set {a}", "!!omap [a: 1]",
    "17.10", "1e999", "-1", "-0", "0x1F", "0o17", ".nan", ".inf", "-.inf", "~", "null",
    "yes", "no", "on", "2001-13-45", "2026-02-30T25:61:00", "9" * 400, "x" * 5000,
    "[" * 200 + "]" * 200, "{a: " * 100 + "}" * 100, ":100:", "[bold]x[/]", "$(id)",
    "env:", "env:NOPE_NOT_SET", "file:/etc/shadow#x", "10.0.0.0/0", "999.1.1.1",
    "0-65536", "1-99999999999", "\r\n", "\u00e9\u00e8", "\\", "#", "|", ">", "@", "`",
]


def _random_value(rng: random.Random, depth: int = 0) -> Any:
    kind = rng.randrange(14 if depth < 3 else 10)
    return [
        lambda: rng.randint(-2**70, 2**70), lambda: rng.choice([0, 1, -1, 65536, 2**31]),
        lambda: rng.choice([0.5, -1.5, 1e308, float("nan"), float("inf"), -0.0]),
        lambda: rng.choice(HOSTILE), lambda: None, lambda: rng.choice([True, False]),
        lambda: "".join(rng.choice("ab:-_./ 0") for _ in range(rng.randrange(12))),
        lambda: "", lambda: "x" * rng.choice([1, 300, 20000]), lambda: rng.random(),
        lambda: [_random_value(rng, depth + 1) for _ in range(rng.randrange(4))],
        lambda: {rng.choice(["id", "kind", "site", "a", "b", "capacity_mbps", "version",
                             "name", "x"]): _random_value(rng, depth + 1)
                 for _ in range(rng.randrange(4))},
        lambda: [{}], lambda: {"": []},
    ][kind]()


def _paths(data: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [path]
    if isinstance(data, dict):
        for k, v in data.items():
            out += _paths(v, (*path, k))
    elif isinstance(data, list):
        for i, v in enumerate(data):
            out += _paths(v, (*path, i))
    return out


def _data_mutation(rng: random.Random, data: Any) -> Any:
    paths = _paths(data)
    path = rng.choice(paths)
    if not path:
        return _random_value(rng) if rng.random() < 0.3 else data
    parent = data
    for part in path[:-1]:
        parent = parent[part]
    op = rng.randrange(4)
    if op == 0 and isinstance(parent, dict):
        del parent[path[-1]]
    elif op == 1 and isinstance(parent, dict):
        parent[rng.choice(["x", "extra", "id", "name", "kind", str(rng.random())])] = \
            _random_value(rng)
    elif op == 2 and isinstance(parent, list):
        parent.append(parent[path[-1]] if rng.random() < 0.5 else _random_value(rng))
    else:
        parent[path[-1]] = _random_value(rng)
    return data


def _text_mutation(rng: random.Random, text: str) -> str:
    lines = text.splitlines(keepends=True) or [""]
    op = rng.randrange(8)
    i = rng.randrange(len(lines))
    if op == 0:
        del lines[i]
    elif op == 1:
        lines.insert(i, lines[rng.randrange(len(lines))])
    elif op == 2:
        lines[i] = rng.choice(["", " ", "  ", "\t", "    "]) + lines[i].lstrip()
    elif op == 3:
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + rng.choice(HOSTILE) + lines[i][pos:]
    elif op == 4:
        head, sep, _ = lines[i].partition(": ")
        if sep:
            lines[i] = head + sep + rng.choice(HOSTILE) + "\n"
    elif op == 5:
        return "".join(lines)[: rng.randrange(len(text) + 1)]
    elif op == 6:
        j = rng.randrange(len(lines))
        lines[i], lines[j] = lines[j], lines[i]
    else:
        pos = rng.randrange(len(lines[i]) + 1)
        lines[i] = lines[i][:pos] + chr(rng.randrange(0x20, 0x7f)) + lines[i][pos + 1:]
    return "".join(lines)


_PARSED: dict[str, Any] = {}
_LOADER: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_DUMPER: Any = getattr(yaml, "CSafeDumper", yaml.SafeDumper)


def _mutant(rng: random.Random, seed_text: str) -> str:
    if rng.random() < 0.5:
        if seed_text not in _PARSED:
            _PARSED[seed_text] = yaml.load(seed_text, Loader=_LOADER)
        data = copy.deepcopy(_PARSED[seed_text])
        for _ in range(rng.randint(1, 3)):
            data = _data_mutation(rng, data)
        try:
            text = yaml.dump(data, Dumper=_DUMPER, sort_keys=False, allow_unicode=True)
        except (yaml.YAMLError, ValueError):
            text = seed_text
        return _text_mutation(rng, text) if rng.random() < 0.2 else text
    text = seed_text
    for _ in range(rng.randint(1, 4)):
        text = _text_mutation(rng, text)
    return text


def test_fuzz_every_loader(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """N mutated inputs over all loaders: each ends in a result or a NetstageError."""
    for var in ("FUZZ_AUTH", "FUZZ_PRIV", "FUZZ_COMM"):
        monkeypatch.setenv(var, "fuzz-secret-123")
    rng = random.Random(SEED)
    names = list(LOADERS)
    failures: list[str] = []
    counts = dict.fromkeys(names, 0)
    errors = 0
    start = time.monotonic()
    for n in range(N_INPUTS):
        name = names[n % len(names)]
        loader, seeds = LOADERS[name]
        text = _mutant(rng, rng.choice(seeds))
        p = tmp_path / f"{name}.yaml"
        p.write_text(text, encoding="utf-8", errors="surrogatepass")
        counts[name] += 1
        try:
            with warnings.catch_warnings():
                warnings.simplefilter("error")  # any other warning is a finding too
                warnings.simplefilter("ignore", NetstageWarning)
                loader(p)
        except NetstageError as exc:
            errors += 1
            assert str(exc).strip(), f"{name}: empty error message"
        except Exception:
            failures.append(f"input {n} ({name}, seed {SEED}):\n{text[:600]!r}\n"
                            f"{traceback.format_exc(limit=-3)}")
    elapsed = time.monotonic() - start
    assert not failures, f"{len(failures)} crashes; first:\n" + "\n".join(failures[:3])
    assert sum(counts.values()) == N_INPUTS
    # the generator must reach both outcomes, or it is not testing the validators
    assert 0 < errors < N_INPUTS, (errors, counts, elapsed)


@pytest.mark.parametrize("text, needle", [
    ("a: &a [*a]\n", "cycle"),
    ("x: " + "[" * 500 + "]" * 500 + "\n", "nested more than"),
    ("a: &a [x,x,x,x,x,x,x,x,x,x]\n" + "".join(
        f"{c}: &{c} [{', '.join([f'*{p}'] * 10)}]\n" for p, c in itertools.pairwise("abcdefghi")),
     "expand to more than"),
])
def test_cli_maps_hostile_yaml_to_exit_1(tmp_path: Path, text: str, needle: str) -> None:
    p = tmp_path / "d.yaml"
    p.write_text(text, encoding="utf-8")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "COLUMNS": "200"}
    r = subprocess.run([sys.executable, "-m", "netstage", "validate", str(p)],
                       capture_output=True, text=True, timeout=60, env=env)
    assert r.returncode == 1, (r.stdout, r.stderr)
    out = r.stdout + r.stderr
    assert needle in out and re.search(rf"{re.escape(str(p))}:\d+: ", out)
    assert "Traceback" not in out
    assert "what to do" not in out and ("instead" in out or "flatten" in out)
