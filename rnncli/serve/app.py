"""The HTTP API (FastAPI): routes, token check, body limit, errors as one-line JSON, and the server's lifespan.

Every error body is ``{"error": "one line"}``: 400 malformed JSON, 401 missing/wrong token, 404 unknown route or
stream, 405 wrong method, 409 stream route on a model without states or a chunk whose ``expect_step`` is not the
stream's step (then with ``"step"``: the actual one), 413 body over ``--max-body-bytes``, 415 a Content-Type that is
not JSON, 422 wrong fields, shapes, types or values, 429 past ``--max-streams``, 500 model error (or a write-ahead
log that cannot be written), 503 not compiled yet.
"""

from __future__ import annotations

import asyncio
import hmac
import json
import logging
import re
import time
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, Awaitable, Callable

import numpy as np
import orjson
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import Response
from starlette.exceptions import HTTPException as StarletteHTTPException

from rnncli import __version__
from rnncli.serve.batcher import Batcher, ModelFailure
from rnncli.serve import wal
from rnncli.serve.hot_path import (ClientGone, error_body, header, json_content_type, match_hot_route, receive_body,
                                   stream_predict)
from rnncli.serve.inputs import (BadRequest, check_stream_id, parse_json, read_expect_step, read_inputs,
                                 read_named_inputs, stream_conflict)
from rnncli.serve.metrics import ServerMetrics
from rnncli.serve.runner import ModelRunner, rows_of
from rnncli.serve.store import StateDir, StreamStore
from rnncli.runs.faults import ADVICE, StorageError, storage_error

log = logging.getLogger("rnncli.serve")

OPEN_PATHS = {"/healthz", "/docs", "/docs/oauth2-redirect", "/openapi.json"}  # reachable without the token
LARGE_BODY = 64 * 1024  # bodies above this are parsed off the event loop


@dataclass
class Limits:
    max_batch: int = 64
    max_delay: float = 0.002
    max_body_bytes: int = 1 << 20
    save_every: float = 30.0
    token: str | None = None
    durability: str = "always"       # "always": write-ahead log before every answer; "periodic": save_every only
    compact_bytes: int = 64 << 20    # "always": fold the log into streams.npz once it grows past this


CHUNK_FIELDS = frozenset({"expect_step"})


def error_response(status: int, message: str, headers: dict | None = None, step: int | None = None) -> Response:
    if step is not None:
        headers = {**(headers or {}), "X-Stream-Step": str(step)}
    return Response(error_body(message, step), status, headers=headers, media_type="application/json")


def encode_outputs(y: Any, step: int | None = None) -> bytes:
    """``{"outputs": y}`` (and ``"step"``) as JSON, ``y`` an array or a graph's ``{output name: array}``; float32
    values as their shortest repr, which reads back to the same float32."""
    if isinstance(y, dict):
        payload: dict = {"outputs": {name: np.ascontiguousarray(value) for name, value in y.items()}}
    else:
        payload = {"outputs": np.ascontiguousarray(y)}
    if step is not None:
        payload["step"] = step
    return orjson.dumps(payload, option=orjson.OPT_SERIALIZE_NUMPY)


def json_response(payload: Any, status: int = 200) -> Response:
    return Response(json.dumps(payload), status, media_type="application/json")


_TEMPLATES = [(re.compile(r"^/v1/streams/[^/]+/predict$"), "/v1/streams/{id}/predict"),
              (re.compile(r"^/v1/streams/[^/]+/state$"), "/v1/streams/{id}/state"),
              (re.compile(r"^/v1/streams/[^/]+$"), "/v1/streams/{id}")]
_KNOWN = {"/healthz", "/metrics", "/v1/model", "/v1/predict", "/docs", "/openapi.json"}


def route_label(path: str) -> str:
    """The route template for metrics labels (stream ids would make one series per stream)."""
    if path in _KNOWN:
        return path
    return next((label for pattern, label in _TEMPLATES if pattern.match(path)), "other")


class Guard:
    """ASGI middleware: token check, declared-size check, request metrics, and a one-line 500 for any bug; stream
    chunks go straight to the bare handler of ``hot_path``, everything else to FastAPI."""

    def __init__(self, app: Any, token: str | None, max_body_bytes: int, metrics: ServerMetrics,
                 state: "ServerState"):
        self.app = app
        self.state = state
        self.expected = f"Bearer {token}".encode() if token else None
        self.max_body_bytes = max_body_bytes
        self.metrics = metrics

    async def __call__(self, scope: dict, receive: Any, send: Any) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = time.perf_counter()
        status = [500]
        sent = [False]

        async def send_and_note(message: dict) -> None:
            if message["type"] == "http.response.start":
                status[0] = message["status"]
                sent[0] = True
            await send(message)

        authorization, declared, content_type = b"", None, None
        for name, value in scope["headers"]:
            if name == b"authorization":
                authorization = value
            elif name == b"content-length":
                declared = value
            elif name == b"content-type":
                content_type = value
        try:
            if self.expected is not None and scope["path"] not in OPEN_PATHS and \
                    not hmac.compare_digest(authorization, self.expected):
                await error_response(401, "missing or wrong token: send `Authorization: Bearer TOKEN`",
                                     {"WWW-Authenticate": "Bearer"})(scope, receive, send_and_note)
                return
            if declared is not None and (not declared.isdigit() or int(declared) > self.max_body_bytes):
                await error_response(413, f"the body is larger than --max-body-bytes {self.max_body_bytes}")(
                    scope, receive, send_and_note)
                return
            if scope["method"] in ("POST", "PUT") and not json_content_type(content_type):
                shown = (content_type or b"").decode("latin-1")[:60]
                await error_response(415, f"Content-Type {shown} is not JSON: send `Content-Type: application/json` "
                                          f"(curl: -H 'Content-Type: application/json')")(scope, receive,
                                                                                          send_and_note)
                return
            stream_id = match_hot_route(scope)
            if stream_id is not None:
                await stream_predict(self.state, stream_id, scope, receive, send_and_note)
            else:
                await self.app(scope, receive, send_and_note)
        except ClientGone:  # disconnected before its body arrived: nobody to answer
            pass
        except Exception as exc:  # noqa: BLE001 - a bug must not leak a traceback to clients
            log.error("internal error on %s %s: %s: %s", scope.get("method"), scope["path"], type(exc).__name__,
                      str(exc).splitlines()[0] if str(exc) else "")
            if not sent[0]:
                await error_response(500, f"internal error: {type(exc).__name__}")(scope, receive, send_and_note)
        finally:
            self.metrics.observe_request(route_label(scope["path"]), status[0], time.perf_counter() - started)


_STREAM_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"], "additionalProperties": False,
    "properties": {"inputs": {"description": "One chunk of the stream: [T][D] numbers (the model's input shape "
                                             "without the batch axis; [T] indices for an Embedding model; any T "
                                             "when /v1/model says `stream_timesteps: any`)",
                              "type": "array", "items": {"type": "array", "items": {"type": "number"}}},
                   "expect_step": {"description": "The stream's step this chunk continues (else 409 with the "
                                                  "actual step; also as an If-Match header)", "type": "integer"}}},
    "example": {"inputs": [[0.5]], "expect_step": 0}}}}
_STATE_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["step", "states"],
    "properties": {"step": {"type": "integer"},
                   "states": {"type": "array", "items": {"type": "object", "properties": {
                       "layer": {"type": "string"}, "name": {"type": "string"},
                       "values": {"type": "array", "items": {"type": "number"}}}}}}}}}}
_BATCH_BODY = {"required": True, "content": {"application/json": {"schema": {
    "type": "object", "required": ["inputs"], "additionalProperties": False,
    "properties": {"inputs": {"description": "N samples: [N][T][D] numbers", "type": "array",
                              "items": {"type": "array", "items": {"type": "array", "items": {"type": "number"}}}}}},
    "example": {"inputs": [[[0.5]]]}}}}
_OUTPUTS = {200: {"description": "The model's outputs: [T][out] with return_sequences, else [out] (per sample)",
                  "content": {"application/json": {"example": {"outputs": [0.25]}}}}}
_STREAM_OUTPUTS = {200: {"description": "The chunk's outputs ([T][out] with return_sequences, else [out]) and the "
                                        "stream's step after it (also in X-Stream-Step)",
                         "content": {"application/json": {"example": {"outputs": [0.25], "step": 1}}}},
                   409: {"description": "`expect_step` differs from the stream's step: nothing applied",
                         "content": {"application/json": {"example": {"error": "...", "step": 0}}}}}


class ServerState:
    """Everything the routes share; created before the event loop starts, wired up in the lifespan."""

    def __init__(self, runner: ModelRunner, store: StreamStore, state_dir: StateDir | None, limits: Limits):
        self.runner = runner
        self.store = store
        self.state_dir = state_dir
        self.limits = limits
        self.metrics = ServerMetrics(lambda: len(store), limits.max_batch)
        self.executor = ThreadPoolExecutor(max_workers=1, thread_name_prefix="rnncli-model")
        self.batcher: Batcher | None = None
        self.ready = False
        self.failure: str | None = None
        self.shutdown_error: Exception | None = None  # the last save at shutdown failed (reported by ``serve``)
        self.saved_version = store.version
        self.saved_at = time.monotonic()
        self.log: wal.WriteAheadLog | None = None  # --durability always: the open write-ahead log
        store.on_evict = self.journal_evictions
        info = runner.info
        self.sample_shape = info.accepted_shape
        first = runner.plan.layers[0]
        self.vocab = first.config["input_dim"] if info.input_dtype == "int32" and not info.named else None
        self.max_values = limits.max_body_bytes  # every number takes at least one byte of JSON

    async def save(self) -> None:
        """Write the stream states if they changed since the last write (snapshot here, file I/O off the loop).
        With the write-ahead log, a new log file starts first and the older ones are deleted once the snapshot,
        which contains them, is on disk."""
        if self.state_dir is None or self.store.version == self.saved_version:
            return
        version, generation = self.store.version, self.store.wal_generation
        if self.log is not None:
            old, generation = self.log, self.log.generation
            self.log = wal.WriteAheadLog(self.state_dir.path, generation + 1)  # OSError: kept for the next try
            old.close()
        data = self.store.snapshot(generation)
        loop = asyncio.get_running_loop()
        await loop.run_in_executor(None, self.state_dir.write, data)
        self.store.wal_generation = generation
        await loop.run_in_executor(None, self.state_dir.drop_logs, generation)
        self.saved_version, self.saved_at = version, time.monotonic()
        self.metrics.saves.inc()

    def journal(self, records: list[tuple[str, int, float, float, list[np.ndarray]]]) -> None:
        """Make state updates durable before they are answered (``--durability always``; one fsync)."""
        if self.log is not None and records:
            self.log.append([wal.encode(wal.UPDATE, key, step, created, used, states)
                             for key, step, created, used, states in records])

    def journal_deletes(self, stream_ids: list[str]) -> None:
        if self.log is not None and stream_ids:
            now = time.time()
            self.log.append([wal.encode(wal.DELETE, key, 0, now, now, None) for key in stream_ids])

    def journal_evictions(self, stream_ids: list[str]) -> None:
        """Log idle streams dropped by housekeeping or to admit a new one (a failure only costs a restored idle
        stream, so it is logged, not raised)."""
        try:
            self.journal_deletes(stream_ids)
        except OSError as exc:
            log.error("cannot log the eviction of %d stream(s): %s", len(stream_ids), exc)

    async def housekeeping(self) -> None:
        """Every second: evict idle streams; every ``save_every`` seconds: save changed states."""
        while True:
            await asyncio.sleep(1.0)
            assert self.batcher is not None
            evicted = self.store.evict_idle(busy=self.batcher.busy_streams())
            if evicted:
                self.metrics.evictions.inc(len(evicted))
            due = time.monotonic() - self.saved_at >= self.limits.save_every
            if due or (self.log is not None and self.log.size > self.limits.compact_bytes):
                try:
                    await self.save()
                except OSError as exc:
                    log.error("cannot save the stream states: %s", exc)

    def compile(self) -> None:
        """Compile batch size 1, report healthy, then compile the larger sizes (served by smaller steps meanwhile)."""
        try:
            self.runner.compile(ready=self._first_size_ready)
            self.ready = True
        except Exception as exc:  # noqa: BLE001 - reported by /healthz and the log, one line
            self.failure = f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
            log.error("the model step failed to compile: %s", self.failure)

    def _first_size_ready(self) -> None:
        self.ready = True

    def require_ready(self) -> None:
        if not self.ready:
            raise BadRequest(503, "the model is still compiling; retry when /healthz answers 200"
                             if self.failure is None else f"the model failed to compile: {self.failure}")

    async def parse(self, body: bytes, batched: bool) -> Any:
        x, _ = await self.parse_chunk(body, batched, None)
        return x

    async def parse_chunk(self, body: bytes, batched: bool, if_match: bytes | None) -> tuple[Any, int | None]:
        """The checked inputs of a body (a graph's: ``{input name: array}``) and its ``expect_step`` (large bodies
        are parsed off the event loop)."""

        def check() -> tuple[Any, int | None]:
            document = parse_json(body)
            optional = frozenset() if batched else CHUNK_FIELDS
            info = self.runner.info
            if info.inputs is not None:
                x: Any = read_named_inputs(document, info.inputs, batched, self.max_values, optional)
            else:
                x = read_inputs(document, self.sample_shape, self.vocab, batched, self.max_values, optional)
            return x, (None if batched else read_expect_step(document, if_match))

        if len(body) > LARGE_BODY:
            return await asyncio.get_running_loop().run_in_executor(None, check)
        return check()

    async def predict_chunk(self, stream_id: str, read: Callable[[], Awaitable[bytes]], client: Any = None,
                            if_match: bytes | None = None) -> tuple[bytes, int]:
        """``{"outputs": ..., "step": n}`` (JSON) of one chunk of a stream, continued from its states, and the
        step; ``read`` gives the body, ``client`` is the connection. Raises ``BadRequest`` (4xx, 503; 409 with the
        actual step when ``expect_step`` differs) or ``ModelFailure`` (500)."""
        batcher = self.batcher
        assert batcher is not None
        batcher.reading += 1
        try:
            self.require_ready()
            check_stream_id(stream_id)
            if not self.runner.info.stateful:
                raise BadRequest(409, "the model keeps no states (no stateful layer); use POST /v1/predict")
            x, expect = await self.parse_chunk(await read(), False, if_match)
            if expect and stream_id not in self.store.streams:
                raise stream_conflict(stream_id, 0, expect)  # nothing is created for it
            self.store.admit(stream_id)
        finally:
            batcher.reading -= 1
        y, step = await batcher.submit(stream_id, x, client, expect)
        return encode_outputs(y, step), step

    def known_stream(self, stream_id: str):
        check_stream_id(stream_id)
        if not self.runner.info.stateful:
            raise BadRequest(409, "the model keeps no states (no stateful layer)")
        stream = self.store.streams.get(stream_id)
        if stream is None:
            raise BadRequest(404, f"no stream `{stream_id}`", 0)
        return stream

    def state_document(self, stream_id: str) -> dict:
        """``{"id", "step", "states": [{"layer", "name", "values": [u]}]}``: what GET .../state answers."""
        stream = self.known_stream(stream_id)
        return {"id": stream_id, "step": stream.steps,
                "states": [{"layer": spec.layer, "name": spec.name, "values": values}
                           for spec, values in zip(self.runner.state_specs, stream.states)]}

    def put_state(self, stream_id: str, document: Any) -> dict:
        """Create or replace a stream from a ``state_document`` (of this or another server of the same model)."""
        check_stream_id(stream_id)
        if not self.runner.info.stateful:
            raise BadRequest(409, "the model keeps no states (no stateful layer)")
        specs = self.runner.state_specs
        layout = ", ".join(f"{spec.layer}.{spec.name}[{spec.units}]" for spec in specs)
        if not isinstance(document, dict) or not {"step", "states"} <= set(document):
            raise BadRequest(422, "the body must be {\"step\": n, \"states\": [{\"layer\", \"name\", "
                                  "\"values\"}, ...]} as GET /v1/streams/ID/state answers")
        step = document["step"]
        if type(step) is not int or step < 0:
            raise BadRequest(422, "`step` must be an integer >= 0")
        entries = document["states"]
        if not isinstance(entries, list) or len(entries) != len(specs):
            raise BadRequest(422, f"`states` must list {len(specs)} states: {layout}")
        states = []
        for spec, entry in zip(specs, entries):
            if not isinstance(entry, dict) or entry.get("layer") != spec.layer or entry.get("name") != spec.name:
                raise BadRequest(422, f"`states` must list the model's states in order: {layout}")
            values = entry.get("values")
            if not isinstance(values, list) or len(values) != spec.units or \
                    not all(type(v) in (int, float) for v in values):
                raise BadRequest(422, f"state {spec.layer}.{spec.name} must be {spec.units} numbers")
            array = np.asarray(values, np.float64)
            if not np.isfinite(array).all() or np.abs(array).max(initial=0.0) > np.finfo(np.float32).max:
                raise BadRequest(422, f"state {spec.layer}.{spec.name} holds a number that is not a finite float32")
            states.append(array.astype(np.float32))
        assert self.batcher is not None
        if stream_id in self.batcher.busy_streams():
            raise BadRequest(409, f"stream `{stream_id}` has chunks waiting; retry when they are answered")
        now = time.time()
        created = self.store.streams[stream_id].created if stream_id in self.store.streams else now
        try:
            self.journal([(stream_id, step, created, now, states)])
        except OSError as exc:
            raise ModelFailure(f"cannot make the stream states durable ({exc.strerror or exc}); nothing was "
                               f"applied") from None
        stream = self.store.put(stream_id, states, step, now)
        stream.created = created
        return stream.describe(stream_id)


def create_app(state: ServerState) -> Guard:
    """The ASGI application of one server: ``Guard`` in front of FastAPI (docs at /docs, schema at /openapi.json).

    ``Guard`` is the outermost layer rather than a FastAPI middleware, so stream chunks skip FastAPI's own middleware
    stack (error, telemetry and body-limit layers) as well as its routing."""

    @asynccontextmanager
    async def lifespan(app: FastAPI):
        loop = asyncio.get_running_loop()
        state.batcher = Batcher(state.runner, state.store, state.metrics, state.limits.max_batch,
                                state.limits.max_delay)
        if state.log is not None:
            state.batcher.journal = state.journal
        compiling = loop.run_in_executor(state.executor, state.compile)
        batching = asyncio.create_task(state.batcher.run())
        housekeeping = asyncio.create_task(state.housekeeping())
        try:
            yield
        finally:
            await state.batcher.close()
            await batching
            housekeeping.cancel()
            await compiling
            try:
                await state.save()
            except OSError as exc:  # a full or read-only disk: one line from `serve`, not a traceback
                state.shutdown_error = shutdown_save_error(exc, state)
            if state.log is not None:
                state.log.close()
            state.executor.shutdown(wait=True)

    app = FastAPI(title="rnncli serve", version=__version__, lifespan=lifespan,
                  description="Stateful stream inference for an rnncli run: one state per stream, streams batched "
                              "into one compiled step, states kept across restarts with --state-dir.")

    @app.exception_handler(BadRequest)
    async def bad_request(request: Request, exc: BadRequest) -> Response:
        return error_response(exc.status, exc.message, step=exc.step if exc.status == 409 else None)

    @app.exception_handler(ModelFailure)
    async def model_failure(request: Request, exc: ModelFailure) -> Response:
        return error_response(500, str(exc))

    @app.exception_handler(StarletteHTTPException)
    async def http_error(request: Request, exc: StarletteHTTPException) -> Response:
        message = "no such route (see /docs)" if exc.status_code == 404 else str(exc.detail)
        return error_response(exc.status_code, message, getattr(exc, "headers", None))

    @app.exception_handler(RequestValidationError)
    async def validation_error(request: Request, exc: RequestValidationError) -> Response:
        return error_response(422, "invalid request: " + "; ".join(str(e.get("msg")) for e in exc.errors())[:300])

    @app.get("/healthz", summary="200 once the model is loaded and its step compiled, else 503")
    async def healthz() -> Response:
        if state.ready:
            return json_response({"status": "ok"})
        return json_response({"status": "failed" if state.failure else "compiling", "error": state.failure}, 503)

    @app.get("/v1/model", summary="Input/output shapes, states, layers and the run served")
    async def model_info() -> Response:
        info = state.runner.info.as_dict()
        info.update(max_batch=state.limits.max_batch, batch_sizes=state.runner.buckets,
                    compiled_batch_sizes=list(state.runner.ready_sizes), live_streams=len(state.store),
                    max_streams=state.store.max_streams, ready=state.ready,
                    durability=state.limits.durability if state.state_dir else None)
        return json_response(info)

    @app.post("/v1/predict", summary="Stateless inference on N samples (stateful models start from zeros)",
              openapi_extra={"requestBody": _BATCH_BODY}, responses=_OUTPUTS)
    async def predict(request: Request) -> Response:
        state.require_ready()
        x = await state.parse(await receive_body(request.receive, state.limits.max_body_bytes), batched=True)
        run = state.runner.run
        try:
            y, _ = await asyncio.get_running_loop().run_in_executor(state.executor, run, x,
                                                                     state.runner.zero_states(rows_of(x)))
        except Exception as exc:  # noqa: BLE001 - one line, never a traceback
            state.metrics.model_errors.inc()
            raise ModelFailure(f"model error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                               [:300]) from None
        state.metrics.batch_size.observe(min(rows_of(x), state.limits.max_batch))
        return Response(encode_outputs(y), media_type="application/json")

    @app.post("/v1/streams/{stream_id}/predict", summary="Continue one stream with a chunk [T][D]",
              openapi_extra={"requestBody": _STREAM_BODY}, responses=_STREAM_OUTPUTS)
    async def stream_predict_route(stream_id: str, request: Request) -> Response:
        # Documents the route; `Guard` answers these requests with `hot_path.stream_predict`, the same logic.
        limit = state.limits.max_body_bytes
        body, step = await state.predict_chunk(stream_id, lambda: receive_body(request.receive, limit),
                                               request.scope.get("client"), header(request.scope, b"if-match"))
        return Response(body, media_type="application/json", headers={"X-Stream-Step": str(step)})

    @app.get("/v1/streams/{stream_id}", summary="A stream's step, created/last-used times, restored from disk")
    async def describe_stream(stream_id: str) -> Response:
        stream = state.known_stream(stream_id)
        return Response(json.dumps(stream.describe(stream_id)), media_type="application/json",
                        headers={"X-Stream-Step": str(stream.steps)})

    @app.get("/v1/streams/{stream_id}/state", summary="A stream's states and step (to move it to another server)")
    async def get_state(stream_id: str) -> Response:
        document = state.state_document(stream_id)
        return Response(orjson.dumps(document, option=orjson.OPT_SERIALIZE_NUMPY), media_type="application/json",
                        headers={"X-Stream-Step": str(document["step"])})

    @app.put("/v1/streams/{stream_id}/state", summary="Create or replace a stream from GET .../state's document",
             openapi_extra={"requestBody": _STATE_BODY})
    async def put_state(stream_id: str, request: Request) -> Response:
        document = parse_json(await receive_body(request.receive, state.limits.max_body_bytes))
        described = state.put_state(stream_id, document)
        return Response(json.dumps(described), media_type="application/json",
                        headers={"X-Stream-Step": str(described["step"])})

    @app.delete("/v1/streams/{stream_id}", status_code=204, summary="Drop a stream's states (404 if unknown)")
    async def delete_stream(stream_id: str) -> Response:
        check_stream_id(stream_id)
        if stream_id not in state.store.streams:
            raise BadRequest(404, f"no stream `{stream_id}`")
        try:
            state.journal_deletes([stream_id])
        except OSError as exc:
            raise ModelFailure(f"cannot make the deletion durable ({exc.strerror or exc}); the stream is kept"
                               ) from None
        state.store.delete(stream_id)
        return Response(status_code=204)

    @app.get("/metrics", summary="Prometheus metrics")
    async def metrics() -> Response:
        return Response(state.metrics.render(), media_type=state.metrics.content_type)

    return Guard(app, token=state.limits.token, max_body_bytes=state.limits.max_body_bytes, metrics=state.metrics,
                 state=state)


def shutdown_save_error(exc: OSError, state: ServerState) -> Exception:
    """The error ``serve`` reports when the states could not be saved at shutdown, saying what a restart gets:
    with the write-ahead log nothing answered is lost; without it, the streams as of the last save."""
    assert state.state_dir is not None
    if state.log is not None:
        after = "the write-ahead log still holds every answered chunk: a restart on this --state-dir replays it"
    else:
        after = (f"a restart continues every stream from the last save, {time.monotonic() - state.saved_at:.0f} s "
                 f"earlier (clients see the rollback through expect_step)")
    found = storage_error(exc, state.state_dir.file)
    if found is not None:
        return StorageError(found.kind, found.path, found.reason, f"{ADVICE[found.kind]}; {after}")
    return OSError(f"cannot save the stream states to {state.state_dir.file}: {exc.strerror or exc}; {after}")
