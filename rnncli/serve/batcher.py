"""Groups waiting chunks of different streams into one compiled step (continuous batching on the event loop).

Chunks wait in arrival order. A batch takes at most one chunk per stream (the next chunk of a stream needs the states
the previous one produces), only chunks of the same shape, and at most ``max_batch``. The step runs on the event loop
(TensorFlow releases the GIL while it computes); the chunks that arrive during one step form the next batch.
Before a step the batcher waits up to ``max_delay`` (counted from the oldest waiting chunk) for more chunks, but only
while some request is still being read or fewer chunks wait than streams were active in the last ``ACTIVE_WINDOW``
seconds (their clients are likely to send their next chunk within the delay): a lone client never pays the delay,
and many streams answered in one step come back as one batch instead of splitting into cohorts (32 streaming-LSTM
streams: 10.7 streams per step without this wait).

States are gathered per stream into [b, u] arrays, and the new rows are scattered back to the streams, unless a
stream was deleted or evicted in the meantime (then the chunk's output is still returned, and its states dropped).
"""

from __future__ import annotations

import asyncio
import time
from collections import OrderedDict, deque
from dataclasses import dataclass

import numpy as np

from rnncli.serve.metrics import ServerMetrics
from rnncli.serve.runner import ModelRunner
from rnncli.serve.store import Stream, StreamStore


ACTIVE_WINDOW = 0.1  # seconds: a stream that sent a chunk this recently is expected to send its next one soon


class ModelFailure(Exception):
    """The compiled step raised: answered with a 500 and this one-line message."""


@dataclass
class Chunk:
    stream_id: str
    x: np.ndarray            # one sample: the model's input shape without the batch axis
    future: asyncio.Future
    arrived: float


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
        self.recent: OrderedDict[str, float] = OrderedDict()  # stream -> when its last chunk arrived, oldest first
        self._wakeup = asyncio.Event()
        self._closing = False

    def busy_streams(self) -> set[str]:
        return {chunk.stream_id for chunk in self.waiting}

    async def submit(self, stream_id: str, x: np.ndarray) -> np.ndarray:
        """The output of ``x`` continued from the stream's states (admission is the caller's job)."""
        loop = asyncio.get_running_loop()
        chunk = Chunk(stream_id, x, loop.create_future(), time.perf_counter())
        self.waiting.append(chunk)
        self.recent[stream_id] = chunk.arrived
        self.recent.move_to_end(stream_id)
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
        """How many streams sent a chunk in the last ``ACTIVE_WINDOW`` seconds (at most ``max_batch``)."""
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
        shape = self.waiting[0].x.shape
        batch: list[Chunk] = []
        seen: set[str] = set()
        kept: deque[Chunk] = deque()
        while self.waiting:
            chunk = self.waiting.popleft()
            if len(batch) < self.max_batch and chunk.stream_id not in seen and chunk.x.shape == shape:
                batch.append(chunk)
                seen.add(chunk.stream_id)
            else:
                kept.append(chunk)
        self.waiting = kept
        return batch

    def _run_batch(self, batch: list[Chunk]) -> None:
        started = time.perf_counter()
        streams: list[Stream] = []
        for chunk in batch:
            stream = self.store.streams.get(chunk.stream_id)
            if stream is None:  # deleted or evicted after admission: starts again from zeros
                stream = self.store.streams[chunk.stream_id] = self.store.new_stream()
            streams.append(stream)
        x = np.stack([chunk.x for chunk in batch])
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
        steps = int(x.shape[1]) if x.ndim > 1 else 1
        for row, (chunk, stream) in enumerate(zip(batch, streams)):
            if self.store.streams.get(chunk.stream_id) is stream:
                stream.states = [state[row] for state in new_states]
                stream.steps += steps
                stream.last_used = now
            if not chunk.future.done():  # a client that went away cancelled its future
                chunk.future.set_result(y[row])
        self.store.updated()
        self.metrics.batch_size.observe(len(batch))
        self.metrics.step_seconds.observe(time.perf_counter() - started)
