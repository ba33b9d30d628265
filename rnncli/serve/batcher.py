"""Groups waiting chunks of different streams into one compiled step (continuous batching on the event loop).

Chunks wait in arrival order. A batch takes at most one chunk per stream (the next chunk of a stream needs the states
the previous one produces), only chunks of the same shape, and at most ``max_batch``. The step runs on the event loop
(TensorFlow releases the GIL while it computes); the chunks that arrive during one step form the next batch.
Before a step the batcher waits up to ``max_delay`` (counted from the oldest waiting chunk) for more chunks, but only
with evidence of concurrency: some request is still being read, or fewer chunks wait than *connections* sent a chunk
in the last ``ACTIVE_WINDOW`` seconds (an HTTP/1.1 connection has one request in flight at a time, so those clients
are likely to send their next chunk within the delay). A lone client never pays the delay, also when it cycles over
thousands of streams on one connection, and many streams answered in one step come back as one batch instead of
splitting into cohorts (32 streaming-LSTM streams: 10.7 streams per step without this wait).

A chunk may carry ``expect_step``: the stream's step counter it continues. It is compared when its batch is formed
(after every earlier chunk of the stream was applied); a different counter fails the chunk with a 409 carrying the
actual step, and nothing is applied. With ``journal`` set (``--durability always``), the new states of a batch are
written to the write-ahead log (one fsync) before they replace the streams' states and before any answer.

States are gathered per stream into [b, u] arrays, and the new rows are scattered back to the streams, unless a
stream was deleted or evicted in the meantime (then the chunk's output is still returned, and its states dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass
from typing import Any, Callable, Hashable

import numpy as np

from rnncli.serve.inputs import stream_conflict
from rnncli.serve.metrics import ServerMetrics
from rnncli.serve.runner import ModelRunner, row_of, shape_key, stack_samples
from rnncli.serve.store import Stream, StreamStore


ACTIVE_WINDOW = 0.1  # seconds: a stream that sent a chunk this recently is expected to send its next one soon


class ModelFailure(Exception):
    """The compiled step raised: answered with a 500 and this one-line message."""


@dataclass
class Chunk:
    stream_id: str
    x: Any                   # one sample: the model's input shape without the batch axis (a graph: by name)
    future: asyncio.Future   # result: (y of the sample, the stream's step after it)
    arrived: float
    expect_step: int | None = None


# (stream id, step, created, last_used, states [u] each) of every stream a batch changed, written before answering
Journal = Callable[[list[tuple[str, int, float, float, list[np.ndarray]]]], None]


class Batcher:
    """Owns the queue of waiting chunks; ``submit`` from request handlers, ``run`` as one event-loop task."""

    def __init__(self, runner: ModelRunner, store: StreamStore, metrics: ServerMetrics, max_batch: int,
                 max_delay: float):
        self.runner = runner
        self.store = store
        self.metrics = metrics
        self.max_batch = max_batch
        self.max_delay = max_delay
        self.waiting: deque[Chunk] = deque()
        self.reading = 0             # requests whose bodies are being read and checked (may become chunks soon)
        self.recent: OrderedDict[Hashable, float] = OrderedDict()  # connection -> its last chunk's arrival
        self.journal: Journal | None = None
        self._wakeup = asyncio.Event()
        self._closing = False

    def busy_streams(self) -> set[str]:
        return {chunk.stream_id for chunk in self.waiting}

    async def submit(self, stream_id: str, x: Any, client: Any = None,
                     expect_step: int | None = None) -> tuple[Any, int]:
        """The output of ``x`` continued from the stream's states, and the stream's step after it (admission is the
        caller's job). ``client``: the connection (ASGI ``scope["client"]``), the unit of concurrency. Raises
        ``BadRequest(409)`` when ``expect_step`` is not the stream's step."""
        loop = asyncio.get_running_loop()
        chunk = Chunk(stream_id, x, loop.create_future(), time.perf_counter(), expect_step)
        self.waiting.append(chunk)
        key = client if client is not None else ("stream", stream_id)
        self.recent[key] = chunk.arrived
        self.recent.move_to_end(key)
        self._wakeup.set()
        return await chunk.future

    async def run(self) -> None:
        """Form and run batches until ``close`` and the queue is empty."""
        while True:
            if not self.waiting:
                if self._closing:
                    return
                self._wakeup.clear()
                await self._wakeup.wait()
                continue
            await self._wait_for_company()
            batch = self._take()
            try:
                self._run_batch(batch)
            except Exception as exc:  # noqa: BLE001 - a bug here must not stop the batcher for every stream
                for chunk in batch:
                    if not chunk.future.done():
                        chunk.future.set_exception(ModelFailure(f"internal error: {type(exc).__name__}"))
            await asyncio.sleep(0)  # let the answered handlers respond and new requests in

    async def close(self) -> None:
        """Stop after the waiting chunks are done (``run`` returns)."""
        self._closing = True
        self._wakeup.set()

    def expected_company(self) -> int:
        """How many connections sent a chunk in the last ``ACTIVE_WINDOW`` seconds (at most ``max_batch``)."""
        cutoff = time.perf_counter() - ACTIVE_WINDOW
        while self.recent and next(iter(self.recent.values())) < cutoff:
            self.recent.popitem(last=False)
        return min(len(self.recent), self.max_batch)

    async def _wait_for_company(self) -> None:
        deadline = self.waiting[0].arrived + self.max_delay
        while ((self.reading > 0 or len(self.waiting) < self.expected_company()) and
               len(self.waiting) < self.max_batch and not self._closing and time.perf_counter() < deadline):
            self._wakeup.clear()
            try:
                await asyncio.wait_for(self._wakeup.wait(), max(deadline - time.perf_counter(), 0.0))
            except asyncio.TimeoutError:
                return

    def _take(self) -> list[Chunk]:
        """The oldest chunk and later ones of the same shape from other streams, up to ``max_batch``."""
        shape = shape_key(self.waiting[0].x)
        batch: list[Chunk] = []
        seen: set[str] = set()
        kept: deque[Chunk] = deque()
        while self.waiting:
            chunk = self.waiting.popleft()
            if len(batch) < self.max_batch and chunk.stream_id not in seen and shape_key(chunk.x) == shape:
                batch.append(chunk)
                seen.add(chunk.stream_id)
            else:
                kept.append(chunk)
        self.waiting = kept
        return batch

    def _admissible(self, batch: list[Chunk]) -> list[Chunk]:
        """The chunks whose ``expect_step`` matches their stream's step; the others get their 409 now."""
        kept = []
        for chunk in batch:
            if chunk.expect_step is not None:
                stream = self.store.streams.get(chunk.stream_id)
                actual = stream.steps if stream is not None else 0
                if actual != chunk.expect_step:
                    if not chunk.future.done():
                        chunk.future.set_exception(stream_conflict(chunk.stream_id, actual, chunk.expect_step))
                    continue
            kept.append(chunk)
        return kept

    def _run_batch(self, batch: list[Chunk]) -> None:
        batch = self._admissible(batch)
        if not batch:
            return
        started = time.perf_counter()
        streams: list[Stream] = []
        for chunk in batch:
            stream = self.store.streams.get(chunk.stream_id)
            if stream is None:  # deleted or evicted after admission: starts again from zeros
                stream = self.store.streams[chunk.stream_id] = self.store.new_stream()
            streams.append(stream)
        x = stack_samples([chunk.x for chunk in batch])
        states = [np.stack([stream.states[i] for stream in streams]) for i in range(len(self.store.units))]
        try:
            # On the event-loop thread, not the model thread: with requests arriving, the loop thread holds the GIL
            # and a model thread waited for it at every hand-over (streaming LSTM at 128 streams: 184 ms per step
            # on the model thread vs 1.1 ms for the same step alone). Requests that arrive meanwhile wait in the
            # socket buffers and form the next batch.
            y, new_states = self.runner.run(x, states)
        except Exception as exc:  # noqa: BLE001 - any failure of the step is reported per request, one line
            self.metrics.model_errors.inc()
            failure = ModelFailure(f"model error: {type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"
                                   [:300])
            for chunk in batch:
                if not chunk.future.done():
                    chunk.future.set_exception(failure)
            return
        now = time.time()
        live = [self.store.streams.get(chunk.stream_id) is stream for chunk, stream in zip(batch, streams)]
        if self.journal is not None:
            records = [(chunk.stream_id, stream.steps + 1, stream.created, now, [state[row] for state in new_states])
                       for row, (chunk, stream, alive) in enumerate(zip(batch, streams, live)) if alive]
            try:
                self.journal(records)
            except OSError as exc:  # nothing is applied: the clients may retry the same chunk
                failure = ModelFailure(f"cannot make the stream states durable ({exc.strerror or exc}); nothing "
                                       f"was applied")
                for chunk in batch:
                    if not chunk.future.done():
                        chunk.future.set_exception(failure)
                return
        for row, (chunk, stream, alive) in enumerate(zip(batch, streams, live)):
            if alive:
                stream.states = [state[row] for state in new_states]
                stream.steps += 1
                stream.last_used = now
            if not chunk.future.done():  # a client that went away cancelled its future
                chunk.future.set_result((row_of(y, row), stream.steps))
        self.store.updated()
        self.metrics.batch_size.observe(len(batch))
        self.metrics.step_seconds.observe(time.perf_counter() - started)
