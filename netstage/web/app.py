"""The ``netstage serve`` web app (Starlette): the what-if page and its endpoints.

Routes:

``GET /``                     the page (``?district=example:NAME`` opens another district)
``POST /open``                an uploaded district file (multipart field ``district``),
                              opened from a temporary copy -> 303 to its page
``POST /run``                 one scenario's results as an HTML fragment (422 + message on
                              bad knobs); ``quick=1`` uses fewer scenarios (while dragging)
``GET /chart/{id}/{name}.png`` a chart of a computed result (netstage.simulator.charts)
``GET /n1/{id}``              the N-1 table of a full result, when R-HA did not run it
                              (the page runs it after showing the result)
``POST /export/district.yaml`` the scenario as a new district file
``POST /export/report.{html,json,pdf}`` the report exactly as ``netstage report`` writes
                              it for the exported district
``GET /static/...``           the page's CSS and JavaScript (package data, no CDN)

The opened district is never written. Only the district given on the command line and
the shipped examples can be opened (the page cannot read other files of the machine).
"""

from __future__ import annotations

import contextlib
import tempfile
import threading
from collections.abc import AsyncIterator, Awaitable, Callable
from importlib import resources
from pathlib import Path
from typing import Any

import anyio
from starlette.applications import Starlette
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import (
    HTMLResponse,
    PlainTextResponse,
    RedirectResponse,
    Response,
)
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from netstage.simulator.errors import NetstageError
from netstage.simulator.examples import EXAMPLE_PREFIX, example_names, resolve_district
from netstage.simulator.stage import DEFAULT_N_SCENARIOS
from netstage.web.engine import CHARTS, QUICK_SCENARIOS, Engine
from netstage.web.knobs import KnobError, Knobs, parse_knobs
from netstage.web.render import error_fragment, n1_fragment, page, result_fragment

__all__ = ["create_app"]

MAX_BODY = 256 * 1024  # a knob form is a few kB
MAX_UPLOAD = 5 * 1024 * 1024  # a district file of thousands of nodes is well under this
MAX_UPLOADS = 50


def _static_dir() -> Path:
    return Path(str(resources.files("netstage.web") / "static"))


class _Engines:
    """The opened districts, one :class:`Engine` each, created on first use (locked)."""

    def __init__(self, default: str, full_scenarios: int) -> None:
        self.default = default
        self.full = full_scenarios
        # the shipped examples by full name, minus the one the command line opened
        # (``example:stage2`` and ``example:stage2-organic`` are the same file)
        first = resolve_district(default).resolve()
        self.allowed = [default] + [f"{EXAMPLE_PREFIX}{n}" for n in example_names()
                                    if resolve_district(f"{EXAMPLE_PREFIX}{n}").resolve()
                                    != first]
        self._lock = threading.Lock()
        self._engines: dict[str, Engine] = {}
        self._uploads = tempfile.TemporaryDirectory(prefix="netstage-serve-uploads-")
        self._n_uploads = 0

    def upload(self, name: str, data: bytes) -> str:
        """Open an uploaded district file (a copy in a temporary folder; the name is only
        shown). Raises NetstageError with the file's located problem."""
        with self._lock:
            if self._n_uploads >= MAX_UPLOADS:
                raise KnobError({"district": f"at most {MAX_UPLOADS} uploads per server; "
                                             "restart netstage serve"})
            self._n_uploads += 1
            label = f"upload:{self._n_uploads}"
        safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in name)[-60:]
        path = Path(self._uploads.name) / f"{self._n_uploads}-{safe or 'district.yaml'}"
        path.write_bytes(data)
        eng = Engine(label, full_scenarios=self.full, path=path)  # parses: errors name the file
        with self._lock:
            self._engines[label] = eng
            self.allowed.append(label)
        return label

    def get(self, source: str | None) -> Engine:
        src = source or self.default
        if src not in self.allowed:
            raise KnobError({"source": f"'{src[:80]}' is not a district this server opened; "
                                       f"use one of: {', '.join(self.allowed)}"})
        with self._lock:
            eng = self._engines.get(src)
            if eng is None:
                eng = self._engines[src] = Engine(src, full_scenarios=self.full)
            return eng

    def all(self) -> list[Engine]:
        with self._lock:
            return list(self._engines.values())

    def close(self) -> None:
        with self._lock:
            for e in self._engines.values():
                e.close()
        self._uploads.cleanup()


async def _on_worker(engine: Engine, fn: Callable[..., Any], *args: Any) -> Any:
    """Run CPU work on the engine's worker thread without blocking the event loop."""
    fut = engine.executor.submit(fn, *args)
    return await anyio.to_thread.run_sync(fut.result)


async def _form(request: Request) -> dict[str, str]:
    body = await request.body()
    if len(body) > MAX_BODY:
        raise KnobError({"form": f"request of {len(body):,} bytes is too large"})
    ctype = request.headers.get("content-type", "")
    if not ctype.startswith(("application/x-www-form-urlencoded", "multipart/form-data")):
        raise KnobError({"form": "send the knobs as a form (application/x-www-form-urlencoded)"})
    form = await request.form()
    out: dict[str, str] = {}
    for k, v in form.multi_items():
        if not isinstance(v, str):
            raise KnobError({k[:40]: "file uploads are not knobs"})
        out[k] = v
    return out


def create_app(district: str = f"{EXAMPLE_PREFIX}stage2", *,
               full_scenarios: int = DEFAULT_N_SCENARIOS) -> Starlette:
    """The app for ``district`` (a path or ``example:NAME``), loaded now so that a bad
    file fails before the server starts."""
    engines = _Engines(district, full_scenarios)
    engines.get(district)

    async def knobs_of(request: Request, quick: bool) -> tuple[Engine, Knobs]:
        form = await _form(request)
        eng = engines.get(form.get("source"))
        n = QUICK_SCENARIOS if quick else eng.full_scenarios
        return eng, parse_knobs(form, eng.district, eng.options, default_n=n)

    async def index(request: Request) -> Response:
        try:
            eng = engines.get(request.query_params.get("district"))
        except KnobError as exc:
            return HTMLResponse(error_fragment(exc), status_code=404)
        try:
            r = await _on_worker(eng, eng.run, eng.base)
            await _on_worker(eng, eng.page_n1, r)  # the first page is complete without script
        except NetstageError as exc:  # e.g. an uploaded file's busy_hour names no mix
            return HTMLResponse(error_fragment(KnobError({"district": str(exc)})),
                                status_code=422)
        return HTMLResponse(page(eng, engines.allowed, r, r))

    async def run(request: Request) -> Response:
        quick = request.query_params.get("quick") == "1"
        try:
            eng, k = await knobs_of(request, quick)
            if quick:
                k.n_scenarios = QUICK_SCENARIOS
            r = await _on_worker(eng, eng.run, k, quick)
        except KnobError as exc:
            return HTMLResponse(error_fragment(exc), status_code=422)
        except NetstageError as exc:  # the scenario is valid input but cannot be simulated
            return HTMLResponse(error_fragment(KnobError({"scenario": str(exc)})),
                                status_code=422)
        return HTMLResponse(result_fragment(r, quick=quick))

    async def open_upload(request: Request) -> Response:
        """Open an uploaded district file: 303 to its page, or 422 with the located
        problem (the file is parsed exactly as the CLI parses a district file)."""
        length = int(request.headers.get("content-length") or 0)
        if length > MAX_UPLOAD + 64 * 1024:
            return HTMLResponse(error_fragment(KnobError(
                {"district": f"file of {length:,} bytes is too large (at most "
                             f"{MAX_UPLOAD:,})"})), status_code=413)
        try:
            form = await request.form(max_files=1, max_fields=5)
            f = form.get("district")
            if f is None or isinstance(f, str):
                raise KnobError({"district": "choose a district YAML file to upload"})
            data = await f.read(MAX_UPLOAD + 1)
            if len(data) > MAX_UPLOAD:
                raise KnobError({"district": f"the file is larger than {MAX_UPLOAD:,} bytes"})
            label = await anyio.to_thread.run_sync(engines.upload, f.filename or "", data)
        except KnobError as exc:
            return HTMLResponse(error_fragment(exc), status_code=422)
        except NetstageError as exc:
            return HTMLResponse(error_fragment(KnobError({"district": str(exc)})),
                                status_code=422)
        except Exception as exc:  # a malformed multipart body
            if isinstance(exc, HTTPException | ValueError | KeyError):
                return HTMLResponse(error_fragment(KnobError(
                    {"district": f"send the file as multipart/form-data ({exc})"})),
                    status_code=400)
            raise
        return RedirectResponse(f"/?district={label}", status_code=303)

    async def chart(request: Request) -> Response:
        rid = request.path_params["rid"]
        name = request.path_params["name"]
        if name not in CHARTS:
            return PlainTextResponse(f"no chart '{name[:40]}'; charts: {', '.join(CHARTS)}",
                                     status_code=404)
        for eng in engines.all():
            r = eng.result(rid)
            if r is not None:
                png = await _on_worker(eng, eng.chart, r, name)
                return Response(png, media_type="image/png",
                                headers={"Cache-Control": "private, max-age=3600"})
        return PlainTextResponse("that result is no longer cached; move a knob to recompute",
                                 status_code=404)

    async def n1(request: Request) -> Response:
        """The N-1 table of a full result whose N-1 the page runs after the result."""
        rid = request.path_params["rid"]
        for eng in engines.all():
            r = eng.result(rid)
            if r is not None:
                r = await _on_worker(eng, eng.page_n1, r)
                return HTMLResponse(n1_fragment(r, quick=False))
        return PlainTextResponse("that result is no longer cached; move a knob to recompute",
                                 status_code=404)

    async def export_district(request: Request) -> Response:
        try:
            eng, k = await knobs_of(request, False)
            text = await _on_worker(eng, eng.district_yaml, k)
        except KnobError as exc:
            return HTMLResponse(error_fragment(exc), status_code=422)
        name = _slug(eng.district.district.name) + "-whatif.yaml"
        return Response(text, media_type="application/x-yaml",
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def export_report(request: Request) -> Response:
        fmt = request.path_params["fmt"]
        if fmt not in ("html", "json", "pdf"):
            return PlainTextResponse("report formats: html, json, pdf", status_code=404)
        try:
            eng, k = await knobs_of(request, False)
            data = await _on_worker(eng, eng.report_bytes, k, fmt)
        except KnobError as exc:
            return HTMLResponse(error_fragment(exc), status_code=422)
        except NetstageError as exc:
            return HTMLResponse(error_fragment(KnobError({"report": str(exc)})),
                                status_code=422)
        media = {"html": "text/html", "json": "application/json", "pdf": "application/pdf"}
        name = f"{_slug(eng.district.district.name)}-whatif-report.{fmt}"
        return Response(data, media_type=media[fmt],
                        headers={"Content-Disposition": f'attachment; filename="{name}"'})

    async def not_allowed(request: Request, exc: Exception) -> Response:
        code = getattr(exc, "status_code", 500)
        return PlainTextResponse(str(getattr(exc, "detail", "error")), status_code=code)

    def handlers() -> dict[Any, Callable[[Request, Exception], Awaitable[Response]]]:
        return {404: not_allowed, 405: not_allowed}

    @contextlib.asynccontextmanager
    async def lifespan(_app: Starlette) -> AsyncIterator[None]:
        yield
        engines.close()

    app = Starlette(
        routes=[
            Route("/", index, methods=["GET"]),
            Route("/run", run, methods=["POST"]),
            Route("/open", open_upload, methods=["POST"]),
            Route("/chart/{rid}/{name}.png", chart, methods=["GET"]),
            Route("/n1/{rid}", n1, methods=["GET"]),
            Route("/export/district.yaml", export_district, methods=["POST"]),
            Route("/export/report.{fmt}", export_report, methods=["POST"]),
            Mount("/static", app=StaticFiles(directory=_static_dir()), name="static"),
        ],
        exception_handlers=handlers(),
        lifespan=lifespan,
    )
    app.state.engines = engines
    return app


def _slug(name: str) -> str:
    s = "".join(ch if ch.isalnum() else "-" for ch in name.lower()).strip("-")
    return "-".join(p for p in s.split("-") if p) or "district"
