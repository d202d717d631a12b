"""Every command and code block in README.md and docs/*.md runs (issue 18: a doc cannot
drift from the tool).

Blocks fenced as ```sh / ```bash / ```shell / ```console are run by bash (a ```console
block: its ``$ `` lines and their ``\\`` continuations), with the venv's ``netstage`` entry
point first on ``PATH``; ```python blocks are run, in order, each by a fresh interpreter
of the same venv. All blocks of one doc share one temporary working folder, in which
``netstage`` points at the package (so ``netstage/topologies/...`` paths resolve as in a
clone) and ``.venv`` at the venv (so ``.venv/bin/netstage`` works).

An HTML comment right before a fence, invisible on the rendered page, tells the test
what the doc implies (several may be stacked):

* ``<!-- doc-test: skip reason="..." -->``: not run (live network, root, a server that
  runs until Ctrl-C, make); the reason is required and every skip is counted.
* ``<!-- doc-test: setup\\n<shell lines>\\n-->``: run first, to make the files the
  block names (``district.yaml``, ``span.pcapng``, ...).
* ``<!-- doc-test: save FILE -->`` before a ```yaml block: write it as FILE.
* ``<!-- doc-test: lighter "OLD" "NEW" reason="..." -->`` (or 'OLD' 'NEW' when they hold
  a double quote): run the block with OLD replaced by NEW, only where the doc's text
  says the smaller form is the same command (fewer districts, ``--no-plans``); counted
  like a skip.

Each skipped block is also reported as a skipped test with its reason (``-ra``).

Blocks of other languages (```text, ```json, bare ```) are output samples and schemas;
```yaml blocks are loaded by tests/test_docs_examples.py.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from .support import ROOT

DOCS = [ROOT / "README.md", *sorted((ROOT / "docs").glob("*.md"))]
SHELL = {"sh", "bash", "shell", "console"}
RUN = SHELL | {"python"}
# Skips and lightened blocks together: each one is a place a doc can still drift.
MAX_SKIPS = 26  # 18 skipped (servers, root, live networks, make) + 8 lightened
TIMEOUT_S = 240

_FENCE = re.compile(r"^(?P<indent>[ ]*)```(?P<lang>[a-z]*)[ ]*\n(?P<body>.*?)^(?P=indent)```[ ]*$",
                    re.M | re.S)
_MARK = re.compile(r"<!--\s*doc-test:\s*(?P<what>[a-z-]+)(?P<rest>(?:(?!<!--).)*?)-->\s*\Z",
                   re.S)
_REASON = re.compile(r'reason="([^"]+)"')


@dataclass
class Block:
    doc: str
    line: int
    lang: str
    body: str
    skip: str | None = None
    setup: list[str] = field(default_factory=list)
    save: str | None = None
    lighter: list[tuple[str, str, str]] = field(default_factory=list)

    @property
    def where(self) -> str:
        return f"{self.doc}:{self.line}"


def _markers(before: str, b: Block) -> None:
    """Parse the doc-test comments stacked right before a fence into ``b``."""
    while (m := _MARK.search(before)) is not None:
        what, rest = m.group("what"), m.group("rest")
        reason = _REASON.search(rest)
        if what == "skip":
            assert reason, f"{b.where}: a skip names its reason: skip reason=\"...\""
            b.skip = reason.group(1)
        elif what == "setup":
            b.setup.insert(0, rest.strip())
        elif what == "save":
            b.save = rest.strip()
        elif what == "lighter":
            parts = [a or b for a, b in
                     re.findall(r"\"([^\"]*)\"|'([^']*)'", _REASON.sub("", rest))]
            assert len(parts) == 2 and reason, \
                f'{b.where}: lighter "OLD" "NEW" reason="..." (got {rest.strip()!r})'
            b.lighter.append((parts[0], parts[1], reason.group(1)))
        else:
            raise AssertionError(f"{b.where}: unknown doc-test marker {what!r}")
        before = before[:m.start()]


def blocks(doc: Path) -> list[Block]:
    text = doc.read_text(encoding="utf-8")
    rel = str(doc.relative_to(ROOT))
    out = []
    for m in _FENCE.finditer(text):
        indent = len(m.group("indent"))
        body = "".join(line[indent:] + "\n" for line in m.group("body").splitlines())
        b = Block(rel, text.count("\n", 0, m.start()) + 1, m.group("lang"), body)
        _markers(text[:m.start()], b)
        out.append(b)
    return out


ALL = {str(d.relative_to(ROOT)): blocks(d) for d in DOCS}
RUNNABLE = {doc: bs for doc, bs in ALL.items() if any(b.lang in RUN for b in bs)}


def _console_script(body: str) -> str:
    """The commands of a ```console block: ``$ `` lines with their continuations."""
    lines: list[str] = []
    cont = False
    for line in body.splitlines():
        if line.startswith("$ "):
            lines.append(line[2:])
        elif cont:
            lines.append(line)
        cont = bool(lines) and (line.startswith("$ ") or cont) and line.rstrip().endswith("\\")
    return "\n".join(lines) + "\n"


def _env() -> dict[str, str]:
    bindir = Path(sys.executable).parent
    env = dict(os.environ)
    env["PATH"] = f"{bindir}{os.pathsep}{env.get('PATH', '')}"
    env["PYTHONPATH"] = str(ROOT)        # this checkout's code, also under the entry point
    env.pop("NETSTAGE_LAB_COMMUNITY", None)
    # the Topology Zoo files the GraphML examples name (../shared beside the clone)
    env["NETSTAGE_SHARED"] = str(ROOT.parent / "shared")
    return env


def _prepare(work: Path) -> None:
    work.mkdir(parents=True, exist_ok=True)
    for name, target in (("netstage", ROOT / "netstage"),
                         (".venv", Path(sys.executable).parent.parent)):
        if not (work / name).exists():
            (work / name).symlink_to(target, target_is_directory=True)


def _run(args: list[str], work: Path, what: str) -> str | None:
    try:
        r = subprocess.run(args, cwd=work, env=_env(), capture_output=True, text=True,
                           timeout=TIMEOUT_S, check=False)
    except subprocess.TimeoutExpired:
        return f"{what}: still running after {TIMEOUT_S} s"
    if r.returncode != 0:
        tail = (r.stdout[-1500:] + "\n" + r.stderr[-2500:]).strip()
        return f"{what}: exit {r.returncode}\n{tail}"
    return None


def run_block(b: Block, i: int, work: Path) -> str | None:
    """Run one block in ``work``; None if it ran cleanly, else what went wrong."""
    body = b.body
    for old, new, _ in b.lighter:
        assert old in body, f"{b.where}: lighter: {old!r} is not in the block"
        body = body.replace(old, new)
    setup = "".join(f"{text}\n" for text in b.setup)
    if b.lang in SHELL:         # one shell: the block sees the setup's exports
        script_text = _console_script(body) if b.lang == "console" else body
        return _run(["bash", "-euo", "pipefail", "-c", setup + script_text], work,
                    f"{b.where} ({b.lang})")
    if setup:
        err = _run(["bash", "-euo", "pipefail", "-c", setup], work, f"{b.where} setup")
        if err:
            return err
    if b.save:
        (work / b.save).write_text(body, encoding="utf-8")
        return None
    if b.lang == "python":
        script = work / f"doc_block_{i}.py"
        script.write_text(body, encoding="utf-8")
        return _run([sys.executable, script.name], work, f"{b.where} (python)")
    raise AssertionError(f"{b.where}: nothing to run in a ```{b.lang} block")


def test_markers_parse_and_skips_are_few() -> None:
    skipped = [(b.where, b.skip) for bs in ALL.values() for b in bs if b.skip]
    lighter = [(b.where, r) for bs in ALL.values() for b in bs for _, _, r in b.lighter]
    ran = [b for bs in ALL.values() for b in bs if b.lang in RUN and not b.skip]
    for where, reason in skipped + lighter:
        assert len(reason.split()) >= 3, f"{where}: say why in a few words, not {reason!r}"
    assert len(ran) >= 15, "the docs have lost their examples?"
    assert len(skipped) + len(lighter) <= MAX_SKIPS, (
        "more blocks skipped or lightened than the budget; each one can drift:\n"
        + "\n".join(f"  {w}: {r}" for w, r in skipped + lighter))
    for b in (b for bs in ALL.values() for b in bs if b.save):
        assert b.lang == "yaml", f"{b.where}: save is for a ```yaml block"


def run_doc(doc: str, work: Path) -> list[str]:
    """Run the blocks of one doc in order in ``work``; what went wrong, block by block."""
    _prepare(work)
    failures = []
    for i, b in enumerate(ALL[doc]):
        if b.skip or not (b.lang in RUN or b.save):
            continue
        err = run_block(b, i, work)
        if err:
            failures.append(err)
    return failures


@pytest.fixture(scope="module")
def doc_results(tmp_path_factory: pytest.TempPathFactory) -> dict[str, list[str]]:
    """Every doc run once, two docs at a time (the blocks are subprocesses, mostly one
    core each): the whole file stays well under 90 s on two cores."""
    base = tmp_path_factory.mktemp("docs-run")
    # longest first, so the pool does not end waiting for one long doc
    order = sorted(RUNNABLE, key=lambda d: -len(ALL[d]))
    with ThreadPoolExecutor(max_workers=2) as pool:
        futures = {d: pool.submit(run_doc, d, base / d.replace("/", "_")) for d in order}
        return {d: f.result() for d, f in futures.items()}


@pytest.mark.slow
@pytest.mark.timeout(900)     # the first one runs every doc (the fixture)
@pytest.mark.parametrize("doc", sorted(RUNNABLE))
def test_doc_blocks_run(doc: str, doc_results: dict[str, list[str]]) -> None:
    failures = doc_results[doc]
    assert not failures, "\n\n".join(failures)


SKIPPED = [(b.where, b.skip) for bs in ALL.values() for b in bs if b.skip]


@pytest.mark.parametrize(("where", "reason"), SKIPPED, ids=[w for w, _ in SKIPPED])
def test_skipped_doc_block(where: str, reason: str) -> None:
    """Not run, and said so in the summary: the doc's own reason."""
    pytest.skip(f"{where}: {reason}")


def test_console_lines_are_extracted() -> None:
    body = "$ netstage a x \\\n      --b y\nout\n$ netstage c   # note\n"
    assert _console_script(body) == "netstage a x \\\n      --b y\nnetstage c   # note\n"
    assert shlex.split("netstage a x --b y")[0] == "netstage"


def test_validate_prints_error_on_stderr(tmp_path: Path) -> None:
    """docs/errors.md: a problem is one `error:` message on stderr (validate too)."""
    bad = tmp_path / "bad.yaml"
    src = (ROOT / "netstage" / "topologies" / "stage1-lab-era.yaml").read_text(encoding="utf-8")
    bad.write_text(re.sub(r"capacity_mbps: \d+", "capacity_mbps: -5", src, count=1),
                   encoding="utf-8")
    r = subprocess.run([str(Path(sys.executable).parent / "netstage"), "validate", str(bad)],
                       env=_env(), capture_output=True, text=True, timeout=TIMEOUT_S, check=False)
    assert r.returncode == 1
    assert r.stderr.startswith("error: ") and "greater than 0" in r.stderr, r.stderr
    assert "error" not in r.stdout


def test_commands_named_in_the_docs_exist() -> None:
    """`netstage WORD ...` in a doc's inline code or code block names a real command
    (docs/scale.md once said `netstage check`)."""
    import typer

    from netstage.cli import app

    known = set(typer.main.get_command(app).commands)  # type: ignore[attr-defined]
    inline = re.compile(r"`(?:\.venv/bin/)?netstage ([a-z][a-z-]+)")
    in_block = re.compile(r"(?:^|\$ |&& |bin/|exec )netstage ([a-z][a-z-]+)", re.M)
    wrong = []
    for doc in DOCS:
        rel = str(doc.relative_to(ROOT))
        texts = [(inline, doc.read_text(encoding="utf-8"))]
        texts += [(in_block, b.body) for b in ALL[rel] if b.lang in SHELL]
        for pattern, text in texts:
            wrong += [f"{rel}: netstage {m.group(1)}" for m in pattern.finditer(text)
                      if m.group(1) not in known]
    assert not wrong, "\n".join(wrong)
