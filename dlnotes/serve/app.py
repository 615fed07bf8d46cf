"""The HTTP application: routes, the body limit, and every error as a 4xx with ``{"error": "one line"}``.

``create_app(served)`` builds a Starlette application over the runs ``load_runs`` loaded. Blocking work
(decoding, the model) runs in Starlette's thread pool, so /health answers while a model is busy.
A failure that is not the request's fault (a bug) is a 500 with ``{"error": ...}``, its traceback in
the server's log only.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.middleware import Middleware
from starlette.requests import Request
from starlette.responses import FileResponse, JSONResponse
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from dlnotes.serve import payload
from dlnotes.serve.limits import LIMITS, Refused

STATIC = Path(__file__).with_name("static")
PAGE_HEADERS = {  # the page loads nothing from elsewhere, and says so to the browser
    "Content-Security-Policy": "default-src 'self'; img-src 'self' data: blob:; base-uri 'none'; form-action 'none'",
    "X-Content-Type-Options": "nosniff", "Cache-Control": "no-cache"}


def error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": " ".join(str(message).split())}, status_code=status)


class BodyLimit:
    """ASGI middleware: a request body larger than ``limit`` bytes is a 413 before it is read whole (by its
    Content-Length, or by counting a chunked body); a smaller one is read and replayed to the app."""

    def __init__(self, app, limit: int):
        self.app, self.limit = app, limit

    async def __call__(self, scope, receive, send):
        if scope["type"] != "http" or scope["method"] not in ("POST", "PUT", "PATCH"):
            return await self.app(scope, receive, send)
        too_big = error(413, f"the request body is larger than {self.limit:,} bytes")
        length = dict(scope["headers"]).get(b"content-length", b"")
        if length.isdigit() and int(length) > self.limit:
            return await too_big(scope, receive, send)
        chunks, size, more = [], 0, True
        while more:
            message = await receive()
            if message["type"] == "http.disconnect":
                return None
            chunks.append(message.get("body", b""))
            size += len(chunks[-1])
            more = message.get("more_body", False)
            if size > self.limit:
                return await too_big(scope, receive, send)
        body, sent = b"".join(chunks), False

        async def replay():
            nonlocal sent
            if sent:
                return await receive()
            sent = True
            return {"type": "http.request", "body": body, "more_body": False}
        return await self.app(scope, replay, send)


def create_app(served: dict[str, Any]) -> Starlette:
    """The application answering the runs ``served`` (name -> ``Served``)."""

    async def health(request: Request) -> JSONResponse:
        return JSONResponse({"status": "ok", "runs": list(served)})

    async def info(request: Request) -> JSONResponse:
        return JSONResponse({"runs": [s.info for s in served.values()]})

    async def page(request: Request) -> FileResponse:
        return FileResponse(STATIC / "index.html", headers=PAGE_HEADERS)

    async def predict(request: Request) -> JSONResponse:
        req = await read_request(request)
        target = pick(served, req.run)
        answers = await run_in_threadpool(target.predict, req)
        return JSONResponse({"run": target.name, "predictions": answers})

    routes = [Route("/", page), Route("/health", health), Route("/info", info),
              Route("/predict", predict, methods=["POST"]),
              Mount("/static", StaticFiles(directory=STATIC), name="static")]
    handlers = {Refused: lambda r, e: error(e.status, e.message),
                HTTPException: _http, Exception: _bug}
    return Starlette(routes=routes, exception_handlers=handlers,
                     middleware=[Middleware(BodyLimit, limit=LIMITS.body_bytes)])


async def read_request(request: Request) -> payload.PredictRequest:
    """The request from a JSON body, or from a multipart form of image files (and an optional ``run`` field)."""
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    if kind == "multipart/form-data":
        return await _from_form(request)
    if kind not in ("application/json", ""):
        raise Refused(415, f"Content-Type {kind}: send application/json, or multipart/form-data with image files")
    return payload.from_json(await request.body())


async def _from_form(request: Request) -> payload.PredictRequest:
    try:
        form = await request.form(max_files=LIMITS.inputs, max_fields=8)
    except HTTPException as e:  # a malformed form, or too many parts
        status = 413 if "too many" in str(e.detail).lower() else 400
        raise Refused(status, f"multipart form: {e.detail} (at most {LIMITS.inputs} files)") from None
    fields: dict[str, Any] = {"inputs": []}
    try:
        for key, value in form.multi_items():
            if hasattr(value, "read"):  # an uploaded file
                fields["inputs"].append(await value.read())
            elif key == "run":
                fields["run"] = value
            else:
                raise Refused(422, f"multipart form: unknown field '{key}'; give image files and, optionally, 'run'")
    finally:
        await form.close()
    return payload.envelope(fields)


def pick(served: dict[str, Any], name: str | None):
    if name is None:
        if len(served) == 1:
            return next(iter(served.values()))
        raise Refused(422, f"several runs are served; name one in 'run': {', '.join(served)}")
    if name not in served:
        raise Refused(404, f"run '{name}' is not served here; served: {', '.join(served)}")
    return served[name]


def _http(request: Request, exc: HTTPException) -> JSONResponse:
    """Routing's own answers (404, 405) as JSON, with what is here."""
    here = "the page at /, GET /health, GET /info, POST /predict"
    if exc.status_code == 404:
        return error(404, f"nothing at {request.url.path}; here: {here}")
    if exc.status_code == 405:
        return error(405, f"{request.method} {request.url.path} is not allowed; here: {here}")
    return error(exc.status_code, exc.detail)


def _bug(request: Request, exc: Exception) -> JSONResponse:
    """A bug (uvicorn logs its traceback, as Starlette re-raises it after this answer)."""
    return error(500, f"internal error ({type(exc).__name__}); the server's log has the traceback")
