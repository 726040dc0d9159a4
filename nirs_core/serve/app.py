"""The prediction service: a FastAPI application over a :class:`~nirs_core.serve._holder.ModelHolder`.

Routes::

    GET  /health                       status, the model served, the last reload error
    GET  /models/current               name, version, sha256, created_at, config, validation
    GET  /models                       the registered versions of the model (or the one bundle)
    POST /predict                      JSON {"spectra": [[...], ...], "wavelengths": [...]} or a
                                       CSV body (header = wavelengths); ?resample=true interpolates
    GET  /metrics                      Prometheus text
    POST /models/{name}/promote        admin: {"version", "alias", "force", "reason"}
    POST /models/{name}/rollback       admin: {"alias", "reason"}
    POST /jobs/train                   admin: 202 and a job id; trains and registers a version
    GET  /jobs/{job_id}                admin: the job's status

Predictions come from :func:`nirs_core.app.predict.predict_table` alone, so ``/predict`` returns
exactly what ``nirs predict`` writes for the same bundle and spectra. Bad input is a 4xx whose
``detail`` says what is wrong (400 not JSON, 413 too large, 415 media type, 422 count, axis,
NaN…); the server lives on. Admin routes need ``Authorization: Bearer $NIRS_ADMIN_TOKEN``
(compared in constant time; 401 otherwise) and answer 403 when no token is configured.
"""

from __future__ import annotations

import contextlib
import hmac
import json
import os
import tempfile
import threading
import time
import uuid
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import JSONResponse, PlainTextResponse, Response
from starlette.concurrency import run_in_threadpool

from nirs_core.app.models import promote, rollback, train_and_register
from nirs_core.app.predict import predict_table
from nirs_core.errors import ConfigError, DataError, PromotionRefusedError
from nirs_core.serve._holder import LoadedModel, ModelHolder
from nirs_core.serve._usage import Metrics, UsageLog
from nirs_core.store.models import ModelNotFoundError

__all__ = ["ADMIN_TOKEN_ENV", "Limits", "create_app"]

ADMIN_TOKEN_ENV = "NIRS_ADMIN_TOKEN"


class _JSONResponse(JSONResponse):
    """JSON by orjson: faster, and a NaN statistic (an R² of a constant reference) becomes
    ``null`` instead of an error."""

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content)


@dataclass(frozen=True)
class Limits:
    """Request limits: body bytes and spectra per request (a 413 beyond either)."""

    max_body_bytes: int = 16 << 20
    max_spectra: int = 10_000


# ----------------------------------------------------------------------------- predictions


def _loads(body: bytes, where: str) -> Any:
    """The JSON body, parsed by orjson (a 100-spectrum body parses in half the time of the
    standard library's); a body orjson refuses is parsed again by :func:`json.loads`, which also
    reads ``NaN`` and ``Infinity``, so that such a value is reported where it is, not as bad JSON."""
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        return json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise HTTPException(400, f"{where}: the body is not valid JSON ({exc}).") from None


def _json_spectra(body: bytes) -> tuple[np.ndarray, Any]:
    payload = _loads(body, "predict")
    if (
        not isinstance(payload, dict)
        or not isinstance(payload.get("spectra"), list)
        or not payload["spectra"]
    ):
        got = type(payload).__name__ if not isinstance(payload, dict) else f"keys {sorted(payload)}"
        raise HTTPException(
            422, f'predict: expected {{"spectra": [[...], ...]}} with at least one spectrum; got {got}.'
        )
    spectra = payload["spectra"]
    bad = next((i for i, row in enumerate(spectra) if not isinstance(row, list)), None)
    if bad is not None:
        raise HTTPException(
            422, f"predict: spectra[{bad}] is a {type(spectra[bad]).__name__}; expected a list of numbers."
        )
    lengths = {len(row) for row in spectra}
    if len(lengths) != 1:
        first = next(i for i, row in enumerate(spectra) if len(row) != len(spectra[0]))
        raise HTTPException(
            422,
            f"predict: every spectrum must have the same number of values; spectra[0] has {len(spectra[0])}, "
            f"spectra[{first}] has {len(spectra[first])}.",
        )
    try:
        x = np.asarray(spectra, dtype=np.float64)
    except (TypeError, ValueError) as exc:
        raise HTTPException(422, f"predict: spectra must hold numbers only ({exc}).") from None
    if np.isnan(x).any() and any(v is None for row in spectra for v in row):
        row, col = next((i, j) for i, r in enumerate(spectra) for j, v in enumerate(r) if v is None)
        raise HTTPException(422, f"predict: spectra[{row}][{col}] is null; expected a finite number.")
    wavelengths = payload.get("wavelengths")
    if wavelengths is not None:
        try:
            wavelengths = np.asarray(wavelengths, dtype=np.float64)
        except (TypeError, ValueError) as exc:
            raise HTTPException(422, f"predict: wavelengths must be a list of numbers ({exc}).") from None
    return x, wavelengths


def _predict(loaded: LoadedModel, media: str, body: bytes, resample: bool, limits: Limits) -> dict[str, Any]:
    """Parse, check and predict one request body (runs in a worker thread)."""
    if media == "application/json":
        x, wavelengths = _json_spectra(body)
        n = x.shape[0]
    else:
        n = max(len(body.splitlines()) - 1, 0)  # the header line, then one line per spectrum
    if n > limits.max_spectra:
        raise HTTPException(413, f"predict: {n} spectra in one request; the limit is {limits.max_spectra}.")
    if media == "application/json":
        table = predict_table(loaded.bundle, x, resample=resample, wavelengths=wavelengths)
    else:
        with tempfile.TemporaryDirectory(prefix="nirs-serve-") as scratch:
            path = Path(scratch) / "spectra.csv"
            path.write_bytes(body)
            table = predict_table(loaded.bundle, path, resample=resample)
    values = table["values"]
    single = values.shape[1] == 1

    def per_target(array: np.ndarray | None) -> list[Any]:
        if array is None:
            return [None] * values.shape[0]
        return [r[0] if single else r for r in array.tolist()]

    columns = {
        "value": per_target(values),
        "lower": per_target(table["lower"]),
        "upper": per_target(table["upper"]),
        **{f: table[f].tolist() for f in ("t2", "q", "in_domain")},
    }
    rows = [dict(zip(columns, cells)) for cells in zip(*columns.values())]
    if table["sample"] is not None:
        for entry, sample in zip(rows, table["sample"].tolist()):
            entry["sample"] = sample
    in_domain = int(np.count_nonzero(table["in_domain"]))
    return {
        "predictions": rows,
        "targets": table["targets"],
        "resampled": table["resampled"],
        "model": {"name": loaded.name, "version": loaded.version, "sha256": loaded.sha256},
        "_in_domain": in_domain,
    }


async def _body(request: Request, limits: Limits) -> bytes:
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limits.max_body_bytes:
        raise HTTPException(
            413, f"predict: the body declares {declared} bytes; the limit is {limits.max_body_bytes}."
        )
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limits.max_body_bytes:
            raise HTTPException(413, f"predict: the body exceeds the limit of {limits.max_body_bytes} bytes.")
        chunks.append(chunk)
    return b"".join(chunks)


# ----------------------------------------------------------------------------- admin


class _Jobs:
    """Training jobs run one at a time in a worker thread; their status is kept in memory."""

    def __init__(self) -> None:
        self._pool = ThreadPoolExecutor(max_workers=1, thread_name_prefix="nirs-train")
        self._lock = threading.Lock()
        self.jobs: dict[str, dict[str, Any]] = {}

    def submit(self, holder: ModelHolder, template: str, data: str, promote_after: bool) -> dict[str, Any]:
        job_id = uuid.uuid4().hex[:12]
        job = {
            "job_id": job_id,
            "status": "queued",
            "model": holder.model,
            "template": template,
            "data": data,
            "promote": promote_after,
            "submitted_at": datetime.now(UTC).isoformat(timespec="milliseconds"),
        }
        with self._lock:
            self.jobs[job_id] = job
        self._pool.submit(self._run, job, holder)
        return dict(job)

    def _run(self, job: dict[str, Any], holder: ModelHolder) -> None:
        job["status"] = "running"
        try:
            out = train_and_register(
                job["template"],
                job["data"],
                holder.model,
                workspace=holder.workspace,
                key_file=holder.options["key_file"],
            )
            version = out["version"]
            job.update(version=version.version, sha256=version.sha256, run_id=out["run_id"])
            if job["promote"]:
                try:
                    entry = promote(
                        holder.workspace,
                        holder.model,
                        version.version,
                        alias=holder.alias,
                        reason=f"training job {job['job_id']}",
                    )
                    job["promotion"] = entry.to_dict()
                except PromotionRefusedError as exc:
                    job["promotion"] = {"refused": str(exc)}
                holder.refresh(force=True)
            job["status"] = "succeeded"
        except Exception as exc:  # the job's record is the only place a failure is reported
            job.update(status="failed", error=f"{type(exc).__name__}: {exc}")
        job["finished_at"] = datetime.now(UTC).isoformat(timespec="milliseconds")

    def shutdown(self) -> None:
        self._pool.shutdown(wait=False, cancel_futures=True)


def _require_admin(request: Request, token: str | None) -> None:
    if not token:
        raise HTTPException(
            403, f"admin routes are disabled: set ${ADMIN_TOKEN_ENV} when starting the server."
        )
    header = request.headers.get("authorization", "")
    scheme, _, given = header.partition(" ")
    if scheme.lower() != "bearer" or not given:
        raise HTTPException(
            401,
            "admin route: expected 'Authorization: Bearer <token>'.",
            headers={"WWW-Authenticate": "Bearer"},
        )
    if not hmac.compare_digest(given.strip().encode("utf-8"), token.encode("utf-8")):
        raise HTTPException(
            401, "admin route: the bearer token is wrong.", headers={"WWW-Authenticate": "Bearer"}
        )


async def _json_object(request: Request, where: str) -> dict[str, Any]:
    body = await request.body()
    if not body.strip():
        return {}
    payload = _loads(body, where)
    if not isinstance(payload, dict):
        raise HTTPException(422, f"{where}: expected a JSON object; got {type(payload).__name__}.")
    return payload


def _registry_only(holder: ModelHolder, where: str) -> None:
    if not holder.follows_registry:
        raise HTTPException(409, f"{where}: this server serves the file $MODEL_PATH, not a registered model.")


# ----------------------------------------------------------------------------- application


class _UsageMiddleware:
    """Pure ASGI middleware: one usage-log line and the metrics of every HTTP request, recorded
    just before the last chunk of the response goes out (a client that has its answer finds
    its line in the log), or when the application failed without answering."""

    def __init__(self, app: Any, usage: UsageLog | None, metrics: Metrics, holder: ModelHolder) -> None:
        self.app, self.usage, self.metrics, self.holder = app, usage, metrics, holder

    def _record(self, scope, status: int, seconds: float) -> None:
        route = getattr(scope.get("route"), "path", None) or "unmatched"
        served = self.holder.served
        usage = scope.get("nirs.usage") or {
            "model": None if served is None else served.name,
            "version": None if served is None else served.version,
        }
        n, in_domain = usage.get("n_spectra", 0), usage.get("in_domain")
        self.metrics.observe(scope["method"], route, status, seconds, n, in_domain or 0)
        if self.usage is not None:
            self.usage.write(
                method=scope["method"],
                route=route,
                status=status,
                model=usage.get("model"),
                version=usage.get("version"),
                n_spectra=n,
                latency_ms=round(seconds * 1000, 3),
                in_domain=in_domain,
            )

    async def __call__(self, scope, receive, send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        start, state = time.perf_counter(), {"status": 500, "recorded": False}

        async def record(message) -> None:
            if message["type"] == "http.response.start":
                state["status"] = message["status"]
            elif message["type"] == "http.response.body" and not message.get("more_body", False):
                state["recorded"] = True
                self._record(scope, state["status"], time.perf_counter() - start)
            await send(message)

        try:
            await self.app(scope, receive, record)
        finally:
            if not state["recorded"]:
                self._record(scope, state["status"], time.perf_counter() - start)


def create_app(
    holder: ModelHolder,
    *,
    usage_log: str | os.PathLike[str] | None = None,
    limits: Limits | None = None,
    admin_token: str | None = None,
) -> FastAPI:
    """The service answering with ``holder``'s model (see the module docstring for the routes).
    Long by its routes: one closure of a few lines each over ``holder``, ``limits`` and the
    token, which is how FastAPI reads best."""
    limits = limits or Limits()
    token = admin_token if admin_token is not None else os.environ.get(ADMIN_TOKEN_ENV) or None
    usage = None if usage_log is None else UsageLog(usage_log)
    metrics, jobs = Metrics(), _Jobs()
    started = time.time()

    @contextlib.asynccontextmanager
    async def lifespan(_app: FastAPI):
        yield
        jobs.shutdown()
        if usage is not None:
            usage.close()

    app = FastAPI(
        title="nirs prediction service",
        docs_url="/docs",
        redoc_url=None,
        lifespan=lifespan,
        default_response_class=_JSONResponse,
    )

    @app.get("/health")
    def health() -> dict[str, Any]:
        loaded = holder.current()
        return {
            "status": "ok",
            "model": {"name": loaded.name, "version": loaded.version, "sha256": loaded.sha256},
            "alias": holder.alias if holder.follows_registry else None,
            "uptime_s": round(time.time() - started, 3),
            "reloads": holder.reloads,
            "last_error": holder.last_error,
        }

    @app.get("/models/current")
    def current() -> dict[str, Any]:
        return holder.current().describe()

    @app.get("/models")
    def versions() -> list[dict[str, Any]]:
        loaded = holder.current()
        if not holder.follows_registry:
            return [{**loaded.describe(), "aliases": []}]
        record = holder.registry.read(holder.model)
        return [{**v.to_dict(), "aliases": record.aliases_of(v.version)} for v in record.versions]

    @app.post("/predict")
    async def predict(request: Request) -> Response:
        media = request.headers.get("content-type", "application/json").split(";")[0].strip().lower()
        if media not in ("application/json", "text/csv", "text/plain"):
            raise HTTPException(415, f"predict: expected application/json or text/csv; got {media!r}.")
        body = await _body(request, limits)
        loaded = holder.current()
        resample = request.query_params.get("resample", "").lower() in ("1", "true", "yes")
        try:
            # in a worker thread even for one spectrum: on the event loop itself, bench/serve.py
            # measured 4× the p50 latency with 8 clients on 2 cores
            out = await run_in_threadpool(_predict, loaded, media, body, resample, limits)
        except DataError as exc:
            raise HTTPException(422, str(exc)) from None
        in_domain = out.pop("_in_domain")
        request.scope["nirs.usage"] = {
            "model": loaded.name,
            "version": loaded.version,
            "n_spectra": len(out["predictions"]),
            "in_domain": in_domain,
        }
        return Response(orjson.dumps(out), media_type="application/json")

    @app.get("/metrics")
    def prometheus() -> PlainTextResponse:
        loaded = holder.current()
        gauges = {
            "nirs_model_version": (
                "Version of the model served (0 for a bundle file).",
                float(loaded.version or 0),
                {"name": loaded.name, "sha256": loaded.sha256[:12]},
            ),
            "nirs_model_reloads": ("Versions swapped in since the start.", float(holder.reloads), {}),
        }
        return PlainTextResponse(metrics.render(gauges), media_type="text/plain; version=0.0.4")

    @app.post("/models/{name}/promote")
    async def promote_route(name: str, request: Request) -> dict[str, Any]:
        _require_admin(request, token)
        _registry_only(holder, "promote")
        payload = await _json_object(request, "promote")
        if not isinstance(payload.get("version"), int):
            raise HTTPException(
                422, f'promote: expected {{"version": <int>}}; got {payload.get("version")!r}.'
            )
        entry = await run_in_threadpool(
            promote,
            holder.workspace,
            name,
            payload["version"],
            alias=payload.get("alias") or holder.alias,
            force=bool(payload.get("force")),
            reason=str(payload.get("reason") or ""),
        )
        await run_in_threadpool(holder.refresh, force=True)
        return {"history": entry.to_dict(), "current": holder.current().describe()}

    @app.post("/models/{name}/rollback")
    async def rollback_route(name: str, request: Request) -> dict[str, Any]:
        _require_admin(request, token)
        _registry_only(holder, "rollback")
        payload = await _json_object(request, "rollback")
        entry = await run_in_threadpool(
            rollback,
            holder.workspace,
            name,
            alias=payload.get("alias") or holder.alias,
            reason=str(payload.get("reason") or ""),
        )
        await run_in_threadpool(holder.refresh, force=True)
        return {"history": entry.to_dict(), "current": holder.current().describe()}

    @app.post("/jobs/train", status_code=202)
    async def train(request: Request) -> dict[str, Any]:
        _require_admin(request, token)
        _registry_only(holder, "jobs/train")
        payload = await _json_object(request, "jobs/train")
        recipe = next(
            (v.training for v in reversed(holder.registry.read(holder.model).versions) if v.training), {}
        )
        template, data = (
            payload.get("template") or recipe.get("template"),
            payload.get("data") or recipe.get("data"),
        )
        if not template or not data:
            raise HTTPException(
                409,
                f'jobs/train: model {holder.model!r} records no template and data to retrain on; pass {{"template", "data"}}.',
            )
        for what, path in (("template", template), ("data", data)):
            if not Path(path).exists():
                raise HTTPException(422, f"jobs/train: {what} {path}: no such file or folder.")
        job = jobs.submit(holder, str(template), str(data), bool(payload.get("promote")))
        return {**job, "url": f"/jobs/{job['job_id']}"}

    @app.get("/jobs/{job_id}")
    def job_status(job_id: str, request: Request) -> dict[str, Any]:
        _require_admin(request, token)
        if job_id not in jobs.jobs:
            raise HTTPException(404, f"jobs: no job {job_id!r}; known: {sorted(jobs.jobs) or 'none'}.")
        return dict(jobs.jobs[job_id])

    @app.exception_handler(PromotionRefusedError)
    async def refused(_request: Request, exc: PromotionRefusedError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    @app.exception_handler(ModelNotFoundError)
    async def not_found(_request: Request, exc: ModelNotFoundError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=404)

    @app.exception_handler(ConfigError)
    async def bad_request(_request: Request, exc: ConfigError) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    app.add_middleware(_UsageMiddleware, usage=usage, metrics=metrics, holder=holder)
    return app
