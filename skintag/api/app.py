"""The FastAPI application: routes, request ids and logging, API keys, CORS, refusals as JSON.

:func:`create_app` builds one app from :class:`skintag.settings.Settings`. The model bundle loads once per process, in
a background thread started with the server (``GET /readyz`` answers 200 once it is in); requests that need it wait
for that load. The CPU-bound work (decode, forward pass, SHAP, bootstraps) runs in worker threads, at most
``Settings.api_threads`` at a time, so the event loop keeps answering. Each uvicorn worker process builds its own app,
bundle and limiter: processes share nothing mutable (only the SHAP cache folder, whose files are written whole).

Uploads are read into memory, never written to disk, and refused beyond ``Settings.max_upload_bytes``; the decoder's
pixel limit is ``Settings.max_pixels``, and its structural limits refuse a costly file from its header
(:func:`skintag.api.service.triage_image` says why the API does not decode in a child process as the page does). The
log gets one line per request (request id, method, route, status, time) and never an image byte or a file name.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import re
import time
import uuid
from collections.abc import AsyncIterator, Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import Any

import anyio
import anyio.to_thread
from fastapi import Depends, FastAPI, Request, Security
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from fastapi.security import APIKeyHeader
from pydantic import BaseModel, ValidationError
from starlette.datastructures import UploadFile
from starlette.exceptions import HTTPException as StarletteHTTPException
from starlette.formparsers import MultiPartException, MultiPartParser
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from skintag import __version__
from skintag.api import schemas, service
from skintag.api.errors import REASONS, ApiError, from_skintag_error
from skintag.api.security import HEADER, key_matches, load_hashes, require_keys_for_host
from skintag.errors import SkintagError
from skintag.settings import Settings
from skintag.triage import load_and_warm

log = logging.getLogger("skintag.api")

#: Room for the multipart framing and the small form fields on top of the upload limit.
BODY_OVERHEAD = 1024 * 1024
#: A body this many times over the limit is not read to its end: the connection is closed instead.
DRAIN_FACTOR = 4
_REQUEST_ID_RE = re.compile(r"^[A-Za-z0-9._-]{1,64}$")

_ERRORS = {s: {"model": schemas.ErrorBody, "description": "; ".join(f"`{r}`: {d}" for r, (st, d) in REASONS.items()
                                                                    if st == s)}
           for s in sorted({st for st, _ in REASONS.values()})}


def _error(status: int, reason: str, detail: str, request_id: str | None) -> JSONResponse:
    """A refusal's response (:class:`RequestLog` adds the ``X-Request-ID`` header)."""
    return JSONResponse({"reason": reason, "detail": detail, "request_id": request_id}, status_code=status)


class RequestLog:
    """ASGI middleware: a request id per request (the client's ``X-Request-ID`` when it is a short token, else a new
    one), sent back in the ``X-Request-ID`` header and in every refusal; the time the app took until its response
    started in a ``Server-Timing: app;dur=<ms>`` header; one log line per request; and a JSON 500
    (``internal_error``) instead of a traceback for anything unexpected, whose traceback goes to the log only."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        given = dict(scope.get("headers") or []).get(b"x-request-id", b"").decode("latin-1")
        rid = given if _REQUEST_ID_RE.match(given) else uuid.uuid4().hex
        scope.setdefault("state", {})["request_id"] = rid
        status = {"code": 500, "started": False}

        async def send_with_id(message: Message) -> None:
            if message["type"] == "http.response.start":
                status["code"], status["started"] = message["status"], True
                headers = [(k, v) for k, v in message.get("headers", []) if k.lower() != b"x-request-id"]
                app_ms = (time.perf_counter() - t0) * 1000
                message["headers"] = [*headers, (b"x-request-id", rid.encode()),
                                      (b"server-timing", f"app;dur={app_ms:.1f}".encode())]
            await send(message)

        t0 = time.perf_counter()
        try:
            await self.app(scope, receive, send_with_id)
        except Exception:
            log.exception("request_id=%s unexpected error", rid)
            if not status["started"]:
                await _error(500, "internal_error", REASONS["internal_error"][1], rid)(scope, receive, send_with_id)
        finally:
            route = scope.get("route")
            reason = scope["state"].get("reason")
            log.info("request_id=%s method=%s route=%s status=%s ms=%.1f%s", rid, scope.get("method"),
                     getattr(route, "path", "-"), status["code"], (time.perf_counter() - t0) * 1000,
                     f" reason={reason}" if reason else "")


# ------------------------------------------------------------------------------------------------------- the body


async def read_body(request: Request, limit: int) -> bytes:
    """The request body, held in memory; refused (``too_large``, 413) when longer than ``limit`` bytes. An oversize
    body is read on (and dropped) up to ``DRAIN_FACTOR`` × ``limit`` so that the client hears the refusal."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > DRAIN_FACTOR * limit:
        raise _too_large(int(declared), limit)
    chunks: list[bytes] = []
    n = 0
    async for chunk in request.stream():
        n += len(chunk)
        if n <= limit:
            chunks.append(chunk)
        elif n > DRAIN_FACTOR * limit:
            break
    if n > limit:
        raise _too_large(n, limit)
    return b"".join(chunks)


def _too_large(n: int, limit: int) -> ApiError:
    mib = 1024 * 1024
    return ApiError.of("too_large", f"The upload is {'over ' if n > DRAIN_FACTOR * limit else ''}{n / mib:.1f} MiB, "
                       f"above the {(limit - BODY_OVERHEAD) / mib:.0f} MiB limit. Send the photo at a lower resolution "
                       "(a few megapixels is plenty) and try again.")


class _InMemoryParser(MultiPartParser):
    """Starlette's multipart parser with files kept in memory (the body is already bounded)."""

    def __init__(self, *args: Any, spool: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spool_max_size = spool


async def parse_form(request: Request, limit: int, model: type[BaseModel], file_field: str) -> Any:
    """A multipart body validated against ``model`` (its ``file_field`` a file part). File names are not kept."""
    body = await read_body(request, limit)

    async def stream() -> AsyncIterator[bytes]:
        yield body

    parser = _InMemoryParser(request.headers, stream(), max_files=8, max_fields=32, max_part_size=64 * 1024,
                             spool=len(body) + 1)
    try:
        form = await parser.parse()
    except MultiPartException as exc:
        raise ApiError.of("bad_request_body", f"The multipart body cannot be parsed: {exc.message}") from None
    values: dict[str, Any] = {}
    for key, value in form.multi_items():
        if key in values:
            raise ApiError.of("invalid_field", f"The field '{key}' is sent more than once; send it once.")
        if isinstance(value, UploadFile):
            if key != file_field:
                raise ApiError.of("invalid_field", f"Only '{file_field}' may be a file; '{key}' is one.")
            values[key] = await value.read()
        elif key == file_field:
            raise ApiError.of("invalid_field", f"'{file_field}' must be a file part (filename=...), not a text field.")
        else:
            values[key] = value
    await form.close()
    return validate(model, values)


def validate(model: type[BaseModel], values: Any) -> Any:
    """``model.model_validate(values)``; a failure is a ``missing_field`` or ``invalid_field`` refusal naming each
    field and what is wrong with it (never the value itself, which may be image bytes)."""
    try:
        return model.model_validate(values)
    except ValidationError as exc:
        errors = exc.errors(include_url=False, include_input=False)
        missing = [e for e in errors if e["type"] == "missing"]
        parts = [f"{'.'.join(str(x) for x in e['loc']) or 'body'}: {e['msg']}" for e in errors]
        if missing:
            raise ApiError.of("missing_field", "Missing: " + "; ".join(parts)) from None
        raise ApiError.of("invalid_field", "; ".join(parts)) from None


def _content_type(request: Request) -> str:
    return request.headers.get("content-type", "").split(";")[0].strip().lower()


def _require_multipart(request: Request, field: str) -> None:
    if _content_type(request) != "multipart/form-data":
        raise ApiError.of("unsupported_content_type", f"Send multipart/form-data with the photo in the '{field}' "
                          f"file part (got {_content_type(request) or 'no content type'}).")


def _form_body(model: type[BaseModel], *, json_model: type[BaseModel] | None = None) -> dict[str, Any]:
    """OpenAPI requestBody of an endpoint that parses its own body."""
    content = {"multipart/form-data": {"schema": model.model_json_schema()}}
    if json_model is not None:
        content["application/json"] = {"schema": json_model.model_json_schema()}
    return {"requestBody": {"required": True, "content": content}}


# -------------------------------------------------------------------------------------------------------- the app


def create_app(settings: Settings | None = None) -> FastAPI:
    """The API over ``settings`` (default: :meth:`Settings.from_env`).

    Raises
    ------
    ConfigError
        When ``settings.api_host`` is not a loopback address and no API key hash is configured, or the keys file is
        unreadable or holds something other than hashes.
    """
    settings = settings or Settings.from_env()
    hashes = load_hashes(settings.api_keys_file, settings.api_key_hashes)
    require_keys_for_host(settings.api_host, hashes)
    upload_limit = settings.max_upload_bytes + BODY_OVERHEAD

    @contextlib.asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="skintag-bundle")
        app.state.bundle_future = pool.submit(load_and_warm, settings.model_dir, trusted_keys=settings.trusted_keys,
                                              require_signature=settings.require_signed_bundle)
        app.state.bundle_future.add_done_callback(_log_load)
        pool.shutdown(wait=False)
        app.state.limiter = anyio.CapacityLimiter(settings.api_threads)
        app.state.shap_gate = service.ShapGate()
        yield

    app = FastAPI(
        title="SkinTag API", version=__version__, lifespan=lifespan,
        summary="Skin-lesion triage, explanations and fairness reports: the same answers as the SkinTag dashboard.",
        description="SkinTag is an AI screening aid, not a diagnosis and not a medical device. Every refusal is a 4xx "
        "JSON body `{reason, detail, request_id}`. Send the API key (when the server requires one) in the "
        f"`{HEADER}` header.",
    )
    app.state.settings = settings
    app.state.key_hashes = hashes
    app.add_middleware(RequestLog)
    if settings.api_cors_origins:
        from fastapi.middleware.cors import CORSMiddleware

        app.add_middleware(CORSMiddleware, allow_origins=list(settings.api_cors_origins), allow_methods=["GET", "POST"],
                           allow_headers=[HEADER, "Content-Type", "X-Request-ID"], expose_headers=["X-Request-ID"])
    _add_error_handlers(app)

    key_header = APIKeyHeader(name=HEADER, auto_error=False, description="an API key (required when the server "
                              "has keys configured)")

    def require_key(request: Request, key: str | None = Security(key_header)) -> None:
        if not request.app.state.key_hashes:
            return
        if not key:
            raise ApiError.of("missing_api_key", f"This server requires an API key in the {HEADER} header.")
        if not key_matches(key, request.app.state.key_hashes):
            raise ApiError.of("invalid_api_key", f"The key in the {HEADER} header is not accepted by this server.")

    v1 = dict(dependencies=[Depends(require_key)], responses=_ERRORS)

    @app.get("/healthz", response_model=schemas.Health, tags=["operations"])
    async def healthz() -> dict[str, str]:
        """The process is up (it may still be loading the model)."""
        return {"status": "ok"}

    @app.get("/readyz", response_model=schemas.Ready, tags=["operations"], responses={503: _ERRORS[503]})
    async def readyz(request: Request) -> Any:
        """200 once the model bundle is loaded; 503 ``loading`` before, ``model_unavailable`` if the load failed."""
        future: Future = request.app.state.bundle_future
        if not future.done():
            raise ApiError.of("loading", "The model bundle is still loading.")
        return {"status": "ready", "model": service.model_info(_bundle_of(future))}

    @app.get("/v1/model", response_model=schemas.ModelSummary, tags=["model"], **v1)
    async def model(request: Request) -> Any:
        """The served bundle's manifest summary: identity and fingerprint, classes, categories, tier thresholds,
        operating points, domains, training data, known limits; and this server's upload and SHAP limits."""
        return JSONResponse(service.model_summary(await _bundle(request), settings))

    @app.post("/v1/triage", response_model=schemas.TriageResponse, tags=["triage"],
              openapi_extra=_form_body(schemas.TriageForm), **v1)
    async def triage(request: Request) -> Any:
        """Triage one photo: `result` is `TriageResult.to_dict()` exactly as the dashboard's JSON export holds it
        (the triage page's call on the same bytes gives the same result), `model` the served model."""
        _require_multipart(request, "image")
        form = await parse_form(request, upload_limit, schemas.TriageForm, "image")
        bundle = await _bundle(request)
        return JSONResponse(await _run(request, service.run_triage, bundle, form.image, form, settings))

    @app.post("/v1/explain", response_model=schemas.Explanation, tags=["triage"],
              openapi_extra=_form_body(schemas.ExplainForm), **v1)
    async def explain(request: Request) -> Any:
        """One explanation of one photo: MAP-head attention, attention rollout, or SHAP with a budget (served from and
        stored in the triage page's SHAP cache). The map as a float array and a PNG overlay (base64)."""
        _require_multipart(request, "image")
        form = await parse_form(request, upload_limit, schemas.ExplainForm, "image")
        bundle = await _bundle(request)
        gate = request.app.state.shap_gate
        return JSONResponse(await _run(request, service.run_explain, bundle, form.image, form, settings, gate))

    @app.post("/v1/fairness", response_model=schemas.FairnessResponse, tags=["fairness"],
              openapi_extra=_form_body(schemas.FairnessForm, json_model=schemas.FairnessRequest), **v1)
    async def fairness(request: Request) -> Any:
        """The fairness report of a predictions table (a CSV file part, or JSON rows) with the Fairness Audit page's
        options, as its JSON export holds it."""
        import pandas as pd

        from skintag.fairness import read_predictions

        kind = _content_type(request)
        if kind == "multipart/form-data":
            form = await parse_form(request, upload_limit, schemas.FairnessForm, "predictions")
            df_fn: Callable[[], Any] = partial(read_predictions, form.predictions)
        elif kind == "application/json":
            body = await read_body(request, upload_limit)
            try:
                raw = json.loads(body)
            except ValueError as exc:
                raise ApiError.of("bad_request_body", f"The JSON body cannot be parsed: {exc}") from None
            form = validate(schemas.FairnessRequest, raw)
            df_fn = partial(pd.DataFrame.from_records, form.rows)
        else:
            raise ApiError.of("unsupported_content_type", "Send the predictions as a multipart/form-data 'predictions' "
                              f"CSV file part or as application/json rows (got {kind or 'no content type'}).")
        options = schemas.FairnessOptions.model_validate(form.model_dump(include=set(schemas.FairnessOptions.model_fields)))

        def work() -> dict[str, Any]:
            return service.run_fairness(df_fn(), options, service.served_manifest(settings))

        return JSONResponse(await _run(request, work))

    return app


def _log_load(future: Future) -> None:
    exc = future.exception()
    if exc is None:
        info = service.model_info(future.result())
        log.info("model loaded: %s v%s fingerprint=%s", info["name"], info["version"], info["fingerprint"])
    else:
        log.error("model bundle failed to load: %s", exc)


def _bundle_of(future: Future) -> Any:
    try:
        return future.result()
    except SkintagError as exc:
        raise ApiError.of("model_unavailable", f"The model bundle failed to load: {exc}") from None
    except Exception:
        raise ApiError.of("model_unavailable", "The model bundle failed to load; the server log says why.") from None


async def _bundle(request: Request) -> Any:
    """The bundle, once its load (started with the server) is done."""
    future: Future = request.app.state.bundle_future
    if not future.done():
        with contextlib.suppress(Exception):
            await asyncio.wrap_future(future)
    return _bundle_of(future)


async def _run(request: Request, fn: Callable[..., Any], *args: Any) -> Any:
    """``fn(*args)`` in a worker thread (at most ``Settings.api_threads`` at once); library errors become refusals."""
    try:
        return await anyio.to_thread.run_sync(partial(fn, *args), limiter=request.app.state.limiter)
    except SkintagError as exc:
        raise from_skintag_error(exc) from None


def _add_error_handlers(app: FastAPI) -> None:
    def rid(request: Request) -> str | None:
        return request.scope.get("state", {}).get("request_id")

    async def api_error(request: Request, exc: ApiError) -> JSONResponse:
        request.scope.setdefault("state", {})["reason"] = exc.reason
        return _error(exc.status, exc.reason, exc.detail, rid(request))

    async def http_error(request: Request, exc: StarletteHTTPException) -> JSONResponse:
        reason = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "bad_request_body")
        request.scope.setdefault("state", {})["reason"] = reason
        detail = f"{exc.detail}: {REASONS[reason][1]} ({request.method} {request.url.path}); the endpoints are at /docs."
        return _error(exc.status_code, reason, detail, rid(request))

    async def validation_error(request: Request, exc: RequestValidationError) -> JSONResponse:
        parts = [f"{'.'.join(str(x) for x in e.get('loc', ())) or 'body'}: {e.get('msg')}" for e in exc.errors()]
        request.scope.setdefault("state", {})["reason"] = "invalid_field"
        return _error(422, "invalid_field", "; ".join(parts), rid(request))

    app.add_exception_handler(ApiError, api_error)  # type: ignore[arg-type]
    app.add_exception_handler(StarletteHTTPException, http_error)  # type: ignore[arg-type]
    app.add_exception_handler(RequestValidationError, validation_error)  # type: ignore[arg-type]
