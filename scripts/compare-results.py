#!/usr/bin/env python3
"""Before/after check for refactors: the results of every bundled example, recorded and compared.

A refactor must change no verdict, figure or plan. This script records what a netstage
checkout answers for every example district shipped in ``netstage/topologies`` (addressed
as ``example:NAME``) and compares two such recordings::

    # record main's HEAD (the baseline), then the branch, then compare
    scripts/compare-results.py record /tmp/before --checkout /work/main
    scripts/compare-results.py record /tmp/after  --checkout .
    scripts/compare-results.py compare /tmp/before /tmp/after    # exit 1 on a difference

``record`` runs, per example and with the same ``--seed`` and ``--scenarios``:
``classify --json``, ``plan --json`` and ``report --out`` (HTML and JSON; ``--pdf`` adds
the PDF, which is only the HTML printed). Each command runs as ``PYTHON -m netstage`` with
the checkout first on ``PYTHONPATH``, so one interpreter (one set of dependencies) can
record two checkouts. The folder gets ``NAME/classify.json``, ``NAME/plan.json``,
``NAME/report/`` and ``runs.json`` (exit codes, seconds, stderr tails, the checkout's git
revision).

``compare`` diffs JSON structurally (key by key, list item by item; floats equal within
``--rel-tol``, default exact) after dropping volatile fields (generation time, output
paths, durations, the checkout path); the report HTML by its visible text with timestamps
removed, and by the pixels-independent content of each embedded chart PNG (PNG chunks other
than metadata, so a chart that draws anything else differs); exit codes of the commands too.
It prints every difference (``--most`` of them per file) and exits 1 if there is one.
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import html
import json
import math
import os
import re
import struct
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

COMMANDS = ("classify", "plan", "report")
# keys whose values change from run to run or checkout to checkout, not with the results
VOLATILE_KEY = re.compile(r"(^generated|_utc$|timestamp|^elapsed|duration|_seconds$|^seconds$"
                          r"|^wall|^path$|^paths?_written$)")
TIMESTAMP = re.compile(r"\d{4}-\d\d-\d\d[T ]\d\d:\d\d(:\d\d(\.\d+)?)?Z?( UTC)?")


# ---------------------------------------------------------------- recording

def _examples(python: str, checkout: Path) -> list[str]:
    """The example names the checkout ships (asked of the checkout itself)."""
    code = ("from netstage.simulator.examples import example_names; "
            "print('\\n'.join(example_names()))")
    try:
        out = subprocess.run([python, "-c", code], env=_env(checkout), cwd=checkout,
                             capture_output=True, text=True, check=True).stdout
        return [n for n in out.split() if n]
    except subprocess.CalledProcessError:  # an older tree without examples.py
        return sorted(p.stem for p in (checkout / "netstage" / "topologies").glob("*.yaml"))


def _env(checkout: Path) -> dict[str, str]:
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join([str(checkout), env.get("PYTHONPATH", "")]).rstrip(
        os.pathsep)
    env.setdefault("NO_COLOR", "1")
    env["COLUMNS"] = "200"
    return env


def _git_rev(checkout: Path) -> str:
    r = subprocess.run(["git", "-C", str(checkout), "describe", "--always", "--dirty"],
                       capture_output=True, text=True)
    return r.stdout.strip() or "unknown"


def record(out: Path, checkout: Path, python: str, seed: int, scenarios: int | None,
           only: list[str] | None, commands: tuple[str, ...], pdf: bool,
           label: str | None = None) -> int:
    checkout = checkout.resolve()
    out.mkdir(parents=True, exist_ok=True)
    names = _examples(python, checkout)
    if only:
        names = [n for n in names if any(n.startswith(o) for o in only)]
    common = ["--seed", str(seed)] + (["--scenarios", str(scenarios)] if scenarios else [])
    runs: dict[str, Any] = {"checkout": str(checkout), "revision": label or _git_rev(checkout),
                            "python": python, "seed": seed, "scenarios": scenarios,
                            "examples": names, "commands": list(commands), "runs": {}}
    for name in names:
        (out / name).mkdir(exist_ok=True)
        for cmd in commands:
            ref = f"example:{name}"
            if cmd == "report":
                rdir = out / name / "report"
                fmts = ["--format", "html", "--format", "json"] + (
                    ["--format", "pdf"] if pdf else [])
                argv = ["report", ref, "--out", str(rdir), *fmts, *common]
                target = None
            else:
                argv = [cmd, ref, "--json", *common]
                target = out / name / f"{cmd}.json"
            t0 = time.monotonic()
            r = subprocess.run([python, "-m", "netstage", *argv], cwd=checkout,
                               env=_env(checkout), capture_output=True, text=True)
            secs = time.monotonic() - t0
            if target is not None:
                target.write_text(r.stdout)
            runs["runs"][f"{name}/{cmd}"] = {"argv": argv, "exit": r.returncode,
                                             "seconds": round(secs, 1),
                                             "stderr_tail": r.stderr[-2000:]}
            print(f"{name:28s} {cmd:9s} exit {r.returncode}  {secs:6.1f} s", flush=True)
    (out / "runs.json").write_text(json.dumps(runs, indent=2) + "\n")
    print(f"recorded {len(names)} examples of {checkout} ({runs['revision']}) in {out}")
    return 0


# ---------------------------------------------------------------- comparing

def _clean(x: Any, roots: list[str]) -> Any:
    """``x`` without volatile keys, with run-specific paths replaced by placeholders."""
    if isinstance(x, dict):
        return {k: _clean(v, roots) for k, v in x.items() if not VOLATILE_KEY.search(str(k))}
    if isinstance(x, list):
        return [_clean(v, roots) for v in x]
    if isinstance(x, str):
        for i, r in enumerate(roots):
            if r:
                x = x.replace(r, f"<ROOT{i}>")
        return TIMESTAMP.sub("<TIME>", x)
    return x


def _diff(a: Any, b: Any, where: str, tol: float, out: list[str]) -> None:
    if isinstance(a, dict) and isinstance(b, dict):
        for k in sorted(set(a) | set(b), key=str):
            if k not in a:
                out.append(f"{where}.{k}: only after: {_short(b[k])}")
            elif k not in b:
                out.append(f"{where}.{k}: only before: {_short(a[k])}")
            else:
                _diff(a[k], b[k], f"{where}.{k}", tol, out)
        return
    if isinstance(a, list) and isinstance(b, list):
        if len(a) != len(b):
            out.append(f"{where}: {len(a)} items before, {len(b)} after")
        for i, (x, y) in enumerate(zip(a, b, strict=False)):
            _diff(x, y, f"{where}[{i}]", tol, out)
        return
    if (isinstance(a, float) or isinstance(b, float)) and isinstance(a, int | float) \
            and isinstance(b, int | float) and not isinstance(a, bool) \
            and not isinstance(b, bool):
        same = (math.isnan(a) and math.isnan(b)) or math.isclose(a, b, rel_tol=tol,
                                                                  abs_tol=0.0) or a == b
        if not same:
            out.append(f"{where}: {a!r} -> {b!r}")
        return
    if a != b or type(a) is not type(b):
        out.append(f"{where}: {_short(a)} -> {_short(b)}")


def _short(x: Any) -> str:
    s = json.dumps(x, sort_keys=True, default=str)
    return s if len(s) <= 160 else s[:157] + "..."


def _load_json(path: Path) -> tuple[Any, str | None]:
    if not path.exists():
        return None, "missing"
    text = path.read_text()
    if not text.strip():
        return None, "empty"
    try:
        return json.loads(text), None
    except json.JSONDecodeError as e:
        return text, f"not JSON ({e})"


def _png_content(data: bytes) -> str:
    """A digest of a PNG without its text/time chunks (matplotlib writes its version)."""
    if not data.startswith(b"\x89PNG\r\n\x1a\n"):
        return hashlib.sha256(data).hexdigest()[:16]
    h, i = hashlib.sha256(), 8
    while i + 8 <= len(data):
        (n,) = struct.unpack(">I", data[i:i + 4])
        kind = data[i + 4:i + 8]
        if kind not in (b"tEXt", b"zTXt", b"iTXt", b"tIME"):
            h.update(data[i + 4:i + 8 + n])
        i += 12 + n
    return h.hexdigest()[:16]


def _html_parts(text: str, roots: list[str]) -> tuple[list[str], list[str]]:
    """The visible text of a report page (one line a block) and its embedded images."""
    images = [_png_content(base64.b64decode(m)) for m in
              re.findall(r"data:image/png;base64,([A-Za-z0-9+/=]+)", text)]
    body = re.sub(r"data:image/[a-z+]+;base64,[A-Za-z0-9+/=]+", "", text)
    body = re.sub(r"(?is)<(script|style)\b.*?</\1>", "", body)
    body = re.sub(r"(?s)<!--.*?-->", "", body)
    body = re.sub(r"(?i)<(br|/p|/li|/tr|/h\d|/div|/td|/th|/caption|/figcaption)\b[^>]*>",
                  "\n", body)
    # attribute text a reader sees (alt text, titles) counts as text
    body = re.sub(r"(?i)<[^>]*\b(?:alt|title)=\"([^\"]*)\"[^>]*>", r" [\1] ", body)
    body = re.sub(r"<[^>]+>", " ", body)
    body = html.unescape(body)
    for i, r in enumerate(roots):
        if r:
            body = body.replace(r, f"<ROOT{i}>")
    body = TIMESTAMP.sub("<TIME>", body)
    body = re.sub(r"\b\d{4}-\d\d-\d\d <TIME>|\b<TIME>", "<TIME>", body)
    lines = [re.sub(r"\s+", " ", ln).strip() for ln in body.splitlines()]
    return [ln for ln in lines if ln], images


def compare(a: Path, b: Path, tol: float, most: int) -> int:
    ra, rb = (json.loads((p / "runs.json").read_text()) for p in (a, b))
    roots_a = [str(a.resolve()), ra.get("checkout", "")]
    roots_b = [str(b.resolve()), rb.get("checkout", "")]
    problems: dict[str, list[str]] = {}
    checked = 0
    if (ra.get("seed"), ra.get("scenarios")) != (rb.get("seed"), rb.get("scenarios")):
        problems["runs.json"] = [f"seed/scenarios differ: {ra.get('seed')}/"
                                 f"{ra.get('scenarios')} vs {rb.get('seed')}/"
                                 f"{rb.get('scenarios')}"]
    both_cmds = set(ra.get("commands", COMMANDS)) & set(rb.get("commands", COMMANDS))
    skipped = []
    for key in sorted(set(ra["runs"]) | set(rb["runs"])):
        if key.split("/")[1] not in both_cmds:
            skipped.append(key)  # a command one side did not record at all
            continue
        if key not in ra["runs"] or key not in rb["runs"]:
            problems.setdefault(key, []).append("recorded on one side only")
            continue
        ea, eb = ra["runs"][key]["exit"], rb["runs"][key]["exit"]
        if ea != eb:
            problems.setdefault(key, []).append(f"exit code {ea} -> {eb}")
        name, cmd = key.split("/")
        for rel in ([f"{name}/report/report.json"] if cmd == "report"
                    else [f"{name}/{cmd}.json"]):
            checked += 1
            (ja, errs_a), (jb, errs_b) = _load_json(a / rel), _load_json(b / rel)
            if errs_a or errs_b:
                if (errs_a, ja) != (errs_b, jb):
                    problems.setdefault(rel, []).append(f"before: {errs_a or 'ok'}, "
                                                        f"after: {errs_b or 'ok'}")
                continue
            out: list[str] = []
            _diff(_clean(ja, roots_a), _clean(jb, roots_b), "$", tol, out)
            if out:
                problems[rel] = out
        if cmd == "report":
            rel = f"{name}/report/report.html"
            ha, hb = a / rel, b / rel
            if ha.exists() or hb.exists():
                checked += 1
                if not (ha.exists() and hb.exists()):
                    problems.setdefault(rel, []).append("present on one side only")
                else:
                    ta, ia = _html_parts(ha.read_text(), roots_a)
                    tb, ib = _html_parts(hb.read_text(), roots_b)
                    out = _text_diff(ta, tb)
                    if ia != ib:
                        out.append(f"embedded charts differ: {len(ia)} vs {len(ib)} images, "
                                   f"{sum(x != y for x, y in zip(ia, ib, strict=False))} "
                                   "changed")
                    if out:
                        problems[rel] = out
            ca = sorted(p.name for p in (a / name / "report").glob("chart-*"))
            cb = sorted(p.name for p in (b / name / "report").glob("chart-*"))
            if ca != cb:
                problems.setdefault(f"{name}/report/", []).append(
                    f"chart files differ: {sorted(set(ca) ^ set(cb))}")
    print(f"before: {ra.get('revision')} ({ra.get('checkout')}); "
          f"after: {rb.get('revision')} ({rb.get('checkout')}); "
          f"seed {ra.get('seed')}, {len(ra['runs'])} runs, {checked} files compared")
    if skipped:
        print(f"not compared (recorded on one side only): {', '.join(skipped)}")
    if not problems:
        print("no difference")
        return 0
    for where, lines in problems.items():
        print(f"DIFFERENT {where}: {len(lines)} difference(s)")
        for ln in lines[:most]:
            print(f"  {ln}")
        if len(lines) > most:
            print(f"  ... and {len(lines) - most} more")
    return 1


def _text_diff(a: list[str], b: list[str]) -> list[str]:
    import difflib
    return [ln.rstrip() for ln in difflib.unified_diff(a, b, "before", "after", n=0,
                                                        lineterm="")
            if not ln.startswith(("---", "+++", "@@"))]


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0],
                                 formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="mode", required=True)
    r = sub.add_parser("record", help="run every example with one checkout into DIR")
    r.add_argument("out", type=Path)
    r.add_argument("--checkout", type=Path, default=Path(__file__).resolve().parents[1],
                   help="netstage source tree to run (default: this one)")
    r.add_argument("--python", default=sys.executable,
                   help="interpreter with netstage's dependencies (default: this one)")
    r.add_argument("--seed", type=int, default=0)
    r.add_argument("--scenarios", type=int, default=None,
                   help="Monte Carlo scenarios (default: the commands' own default)")
    r.add_argument("--only", nargs="*", help="only examples whose name starts so")
    r.add_argument("--commands", default=",".join(COMMANDS),
                   help="comma-separated subset of classify,plan,report")
    r.add_argument("--pdf", action="store_true", help="also write the PDF report")
    r.add_argument("--label", default=None,
                   help="what the checkout is (default: its git revision; a tree made "
                        "with git archive has none)")
    c = sub.add_parser("compare", help="diff two recordings; exit 1 on a difference")
    c.add_argument("before", type=Path)
    c.add_argument("after", type=Path)
    c.add_argument("--rel-tol", type=float, default=0.0,
                   help="relative tolerance for floats (default 0: exact)")
    c.add_argument("--most", type=int, default=20, help="differences shown per file")
    ns = ap.parse_args(argv)
    if ns.mode == "record":
        cmds = tuple(x for x in ns.commands.split(",") if x)
        bad = set(cmds) - set(COMMANDS)
        if bad:
            ap.error(f"unknown commands: {sorted(bad)}")
        return record(ns.out, ns.checkout, ns.python, ns.seed, ns.scenarios, ns.only, cmds,
                      ns.pdf, ns.label)
    return compare(ns.before, ns.after, ns.rel_tol, ns.most)


if __name__ == "__main__":
    sys.exit(main())
