"""Write docs/cli.md from the typer app itself (commands, arguments, options, help).

    .venv/bin/python scripts/gen_cli_docs.py          # rewrite docs/cli.md
    .venv/bin/python scripts/gen_cli_docs.py --check  # exit 1 if docs/cli.md is stale

tests/test_cli_docs.py runs the check, so the reference cannot drift from `--help`.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import typer

from netstage.cli import app

OUT = Path(__file__).resolve().parent.parent / "docs" / "cli.md"


def _param_row(p: Any) -> str:
    if p.param_type_name == "argument":
        name = "`" + (p.name or "").upper() + "`"
        kind = "argument" + ("" if p.required else ", optional")
    else:
        name = ", ".join(f"`{o}`" for o in [*p.opts, *p.secondary_opts])
        kind = "flag" if getattr(p, "is_flag", False) else "option"
        if p.required:
            kind += ", required"
    default = p.default
    hidden = default is None or default is False or default == () or p.required
    show = "" if hidden else f" (default: `{default}`)"
    helptext = (getattr(p, "help", None) or "").replace("\n", " ").replace("|", "\\|")
    return f"| {name} | {kind} | {helptext}{show} |"


def _walk(cmd: Any, path: list[str], out: list[str]) -> None:
    sub = getattr(cmd, "commands", None)
    if sub:
        for name in sorted(sub):
            _walk(sub[name], [*path, name], out)
        return
    out.append(f"## `{' '.join(path)}`\n")
    out.append((cmd.help or "").strip() + "\n")
    params = [p for p in cmd.params if p.name != "help"]
    if params:
        out.append("| parameter | kind | meaning |\n|---|---|---|")
        out.extend(_param_row(p) for p in params)
        out.append("")


def render() -> str:
    cmd = typer.main.get_command(app)
    lines = [
        "# CLI reference",
        "",
        "Generated from the command definitions by `scripts/gen_cli_docs.py`; "
        "`netstage COMMAND --help` shows the same.",
        "Exit codes: 0 ok, 1 finding or validation failure, 2 usage error.",
        "",
    ]
    _walk(cmd, ["netstage"], lines)
    return "\n".join(lines).rstrip() + "\n"


def main() -> int:
    text = render()
    if "--check" in sys.argv:
        if not OUT.exists() or OUT.read_text(encoding="utf-8") != text:
            print(f"{OUT} is stale: run .venv/bin/python scripts/gen_cli_docs.py", file=sys.stderr)
            return 1
        return 0
    OUT.write_text(text, encoding="utf-8")
    print(f"wrote {OUT}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
