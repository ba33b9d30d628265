"""The stream-chunk route as a bare ASGI handler: the request every streaming client sends once per chunk.

Through FastAPI (routing, dependency solving, exception wrappers, `Request`), one chunk of the streaming LSTM cost
0.7 ms of server CPU, more than the compiled step itself (0.6 ms for one stream, 2.4 ms for 61), so batching streams
could not lift throughput past 1.6x. Here the same checks and the same answers skip that machinery; the FastAPI
route with the same path stays as the documented definition (/docs, /openapi.json) and shares
``ServerState.predict_chunk`` with this handler.
"""

from __future__ import annotations

import json
import re
from typing import Any, Awaitable, Callable

from rnncli.serve.batcher import ModelFailure
from rnncli.serve.inputs import BadRequest

STREAM_PREDICT = re.compile(r"/v1/streams/([^/]+)/predict")
JSON_HEADERS = [(b"content-type", b"application/json")]

Receive = Callable[[], Awaitable[dict]]
Send = Callable[[dict], Awaitable[None]]


class ClientGone(Exception):
    """The client disconnected before its body arrived: nothing to answer."""


async def receive_body(receive: Receive, limit: int) -> bytes:
    """The request body from ASGI ``http.request`` messages, refused with 413 once it grows past ``limit``."""
    parts: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise ClientGone()
        part = message.get("body", b"")
        size += len(part)
        if size > limit:
            raise BadRequest(413, f"the body is larger than --max-body-bytes {limit}")
        parts.append(part)
        if not message.get("more_body", False):
            return parts[0] if len(parts) == 1 else b"".join(parts)


async def send_json(send: Send, status: int, body: bytes, step: int | None = None) -> None:
    """One whole response: ``body`` is already JSON-encoded; ``step``: the stream's step (``X-Stream-Step``)."""
    headers = JSON_HEADERS + [(b"content-length", str(len(body)).encode())]
    if step is not None:
        headers.append((b"x-stream-step", str(step).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


def error_body(message: str, step: int | None = None) -> bytes:
    """Every error's body: ``{"error": "one line"}`` (with ``"step"`` for a stream-step conflict)."""
    return json.dumps({"error": message} if step is None else {"error": message, "step": step}).encode()


JSON_TYPES = (b"application/json",)


def json_content_type(value: bytes | None) -> bool:
    """Whether a Content-Type header announces JSON (``application/json``, ``application/*+json``, any
    parameters); a request without the header is read as JSON too."""
    if value is None:
        return True
    media = value.split(b";", 1)[0].strip().lower()
    return media in JSON_TYPES or (media.startswith(b"application/") and media.endswith(b"+json"))


def header(scope: dict, name: bytes) -> bytes | None:
    for key, value in scope["headers"]:
        if key == name:
            return value
    return None


def match_hot_route(scope: dict) -> str | None:
    """The stream id when ``scope`` is ``POST /v1/streams/{id}/predict``, else None (FastAPI answers it)."""
    if scope["method"] != "POST":
        return None
    match = STREAM_PREDICT.fullmatch(scope["path"])
    return match[1] if match else None


async def stream_predict(state: Any, stream_id: str, scope: dict, receive: Receive, send: Send) -> None:
    """Answer one chunk: 200 with ``{"outputs": ..., "step": n}``, or the 4xx/500 of ``predict_chunk`` as
    ``{"error": ...}``.

    ``state``: the ``ServerState`` (typed loosely to keep this module free of the app's imports)."""
    try:
        body, step = await state.predict_chunk(stream_id, lambda: receive_body(receive, state.limits.max_body_bytes),
                                               scope.get("client"), header(scope, b"if-match"))
    except ClientGone:
        return
    except BadRequest as exc:
        await send_json(send, exc.status, error_body(exc.message, exc.step), exc.step)
        return
    except ModelFailure as exc:
        await send_json(send, 500, error_body(str(exc)))
        return
    await send_json(send, 200, body, step)
