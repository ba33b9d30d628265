"""The batcher with a fake model: one chunk per stream per batch, arrival order, batch limit, state scatter,
deleted streams, model errors. Deterministic: everything is queued before the batcher runs."""

from __future__ import annotations

import asyncio
import time

import numpy as np
import pytest

from rnncli.serve.batcher import Batcher, ModelFailure
from rnncli.serve.inputs import BadRequest
from rnncli.serve.metrics import ServerMetrics
from rnncli.serve.store import StreamStore


class Accumulator:
    """state' = state + sum(x); y = state'. Records the streams' inputs of every batch."""

    def __init__(self, fail: bool = False):
        self.batches: list[list[float]] = []
        self.fail = fail

    def run(self, x, states):
        self.batches.append([float(v) for v in x[:, 0]])
        if self.fail:
            raise RuntimeError("boom\nsecond line")
        new = states[0] + x.sum(axis=1, keepdims=True)
        return new.copy(), [new]


def run_batches(runner, chunks, max_batch=8, delete=None):
    async def scenario():
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(runner, streams, ServerMetrics(lambda: len(streams), max_batch), max_batch, 0.0)
        futures = []
        for stream_id, value in chunks:
            streams.admit(stream_id)
            futures.append(asyncio.ensure_future(batcher.submit(stream_id, np.array([value], np.float32))))
        await asyncio.sleep(0)  # every chunk is queued
        if delete:
            streams.delete(delete)
        task = asyncio.create_task(batcher.run())
        results = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.close()
        await task
        return results, streams

    return asyncio.run(scenario())


def test_one_chunk_per_stream_per_batch_in_arrival_order():
    runner = Accumulator()
    chunks = [("a", 1.0), ("a", 2.0), ("b", 10.0), ("a", 4.0), ("c", 100.0), ("b", 20.0)]
    results, streams = run_batches(runner, chunks)
    assert runner.batches == [[1.0, 10.0, 100.0], [2.0, 20.0], [4.0]]
    assert [float(r[0][0]) for r in results] == [1.0, 3.0, 10.0, 7.0, 100.0, 30.0]
    assert [r[1] for r in results] == [1, 2, 1, 3, 1, 2]                   # each stream's step after its chunk
    assert float(streams.streams["a"].states[0][0]) == 7.0 and streams.streams["a"].steps == 3


def test_batch_limit():
    runner = Accumulator()
    run_batches(runner, [(f"s{i}", float(i)) for i in range(5)], max_batch=2)
    assert [len(b) for b in runner.batches] == [2, 2, 1]


def test_a_stream_deleted_while_waiting_starts_from_zeros():
    runner = Accumulator()
    results, streams = run_batches(runner, [("a", 1.0), ("a", 2.0)], delete="a")
    assert [float(r[0][0]) for r in results] == [1.0, 3.0]
    assert "a" in streams.streams


def test_model_error_is_one_line_for_every_chunk_and_states_stay():
    results, streams = run_batches(Accumulator(fail=True), [("a", 1.0), ("b", 2.0)])
    assert all(isinstance(r, ModelFailure) for r in results)
    assert str(results[0]) == "model error: RuntimeError: boom"
    assert float(streams.streams["a"].states[0][0]) == 0.0


@pytest.mark.parametrize("max_batch,expected", [(1, [1]), (5, [1, 2, 4, 5]), (64, [1, 2, 4, 8, 16, 32, 64])])
def test_buckets(max_batch, expected):
    from rnncli.serve.runner import batch_buckets, bucket_for

    assert batch_buckets(max_batch) == expected
    count = min(3, max_batch)
    assert bucket_for(count, expected) == next(b for b in expected if b >= count)


def _follow_up(first_wave: list[str], second_wave: list[str], late_delay: float, max_delay: float):
    """Every stream of ``first_wave`` sends one chunk (one batch); then ``second_wave[0]`` sends its next chunk
    alone, and the rest of ``second_wave`` ``late_delay`` seconds later. Returns the model's batches and how long
    the lone chunk took."""

    async def scenario():
        runner = Accumulator()
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(runner, streams, ServerMetrics(lambda: len(streams), 8), 8, max_delay)
        task = asyncio.create_task(batcher.run())
        for stream_id in set(first_wave + second_wave):
            streams.admit(stream_id)
        await asyncio.gather(*(batcher.submit(s, np.array([1.0], np.float32)) for s in first_wave))
        started = time.perf_counter()
        lone = asyncio.ensure_future(batcher.submit(second_wave[0], np.array([2.0], np.float32)))
        await asyncio.sleep(late_delay)
        late = [asyncio.ensure_future(batcher.submit(s, np.array([2.0], np.float32))) for s in second_wave[1:]]
        await lone
        took = time.perf_counter() - started
        await asyncio.gather(*late)
        await batcher.close()
        await task
        return runner.batches, took

    return asyncio.run(scenario())


def test_streams_active_a_moment_ago_are_waited_for_within_max_delay():
    """Three streams answered together come back together even when their next chunks arrive 20 ms apart (within a
    generous --max-delay-ms), instead of splitting into one batch per arrival."""
    batches, _ = _follow_up(["a", "b", "c"], ["a", "b", "c"], late_delay=0.02, max_delay=30.0)
    assert batches == [[1.0, 1.0, 1.0], [2.0, 2.0, 2.0]]


def test_a_lone_stream_never_waits_for_company():
    """One active stream: its chunk runs at once, not after --max-delay-ms (30 s here)."""
    batches, took = _follow_up(["a"], ["a"], late_delay=0.0, max_delay=30.0)
    assert batches == [[1.0], [2.0]] and took < 10.0


def test_streams_idle_past_the_window_are_not_waited_for():
    """A stream last seen longer ago than ACTIVE_WINDOW is not expected: the chunk of the other runs alone."""
    from rnncli.serve import batcher as batcher_module

    async def scenario():
        runner = Accumulator()
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(runner, streams, ServerMetrics(lambda: len(streams), 8), 8, 30.0)
        task = asyncio.create_task(batcher.run())
        for stream_id in "ab":
            streams.admit(stream_id)
        await asyncio.gather(*(batcher.submit(s, np.array([1.0], np.float32)) for s in "ab"))
        batcher.recent[("stream", "b")] -= 2 * batcher_module.ACTIVE_WINDOW  # b went quiet
        batcher.recent.move_to_end(("stream", "b"), last=False)
        started = time.perf_counter()
        await batcher.submit("a", np.array([2.0], np.float32))
        took = time.perf_counter() - started
        await batcher.close()
        await task
        return runner.batches, took

    batches, took = asyncio.run(scenario())
    assert batches == [[1.0, 1.0], [2.0]] and took < 10.0


def _cycle(connections: list[str], max_delay: float):
    """Each of ``connections`` sent a chunk of its own stream a moment ago (answered); then stream ``next`` gets a
    chunk on the first connection. Returns the batches and how long that chunk took."""

    async def scenario():
        runner = Accumulator()
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(runner, streams, ServerMetrics(lambda: len(streams), 8), 8, max_delay)
        task = asyncio.create_task(batcher.run())
        for index, client in enumerate(connections):
            streams.admit(f"s{index}")
            await batcher.submit(f"s{index}", np.array([1.0], np.float32), client=client)
        streams.admit("next")
        started = time.perf_counter()
        await batcher.submit("next", np.array([2.0], np.float32), client=connections[0])
        took = time.perf_counter() - started
        await batcher.close()
        await task
        return runner.batches, took

    return asyncio.run(scenario())


def test_one_connection_cycling_over_many_streams_never_waits():
    """One connection (one request in flight at a time) over 8 streams: no company is expected, so the chunk of a
    ninth stream runs at once instead of after --max-delay-ms (30 s here)."""
    batches, took = _cycle([("127.0.0.1", 5000)] * 8, max_delay=30.0)
    assert batches[-1] == [2.0] and took < 10.0


def test_other_active_connections_are_waited_for_up_to_max_delay(monkeypatch):
    """Two connections active a moment ago: the chunk of one waits (here the whole --max-delay-ms of 0.2 s) for
    the other's next chunk, which never comes. (The activity window is widened so a slow host cannot let the
    first connection's activity expire during the test.)"""
    from rnncli.serve import batcher as batcher_module

    monkeypatch.setattr(batcher_module, "ACTIVE_WINDOW", 600.0)
    batches, took = _cycle([("127.0.0.1", 5000), ("127.0.0.1", 5001)], max_delay=0.2)
    assert batches[-1] == [2.0] and took >= 0.19


def test_expect_step_conflict_applies_nothing_and_names_the_actual_step():
    async def scenario():
        runner = Accumulator()
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(runner, streams, ServerMetrics(lambda: len(streams), 8), 8, 0.0)
        streams.admit("a")
        first = asyncio.ensure_future(batcher.submit("a", np.array([1.0], np.float32), expect_step=0))
        stale = asyncio.ensure_future(batcher.submit("a", np.array([5.0], np.float32), expect_step=0))
        right = asyncio.ensure_future(batcher.submit("a", np.array([2.0], np.float32), expect_step=1))
        task = asyncio.create_task(batcher.run())
        results = await asyncio.gather(first, stale, right, return_exceptions=True)
        await batcher.close()
        await task
        return runner.batches, results, streams

    batches, results, streams = asyncio.run(scenario())
    assert batches == [[1.0], [2.0]]                                        # the stale chunk never ran
    assert results[0][1] == 1 and results[2][1] == 2 and float(results[2][0][0]) == 3.0
    assert isinstance(results[1], BadRequest) and results[1].status == 409 and results[1].step == 1
    assert "at step 1, not 0" in results[1].message and streams.streams["a"].steps == 2


@pytest.mark.parametrize("fail", [False, True])
def test_the_journal_gets_one_call_per_batch_before_the_answers(fail: bool):
    """--durability always: one journal call (one fsync) per batched step with every stream's new states; when it
    fails, every chunk of the batch fails and no state changes."""
    calls: list = []

    def journal(records):
        calls.append([(key, step, float(states[0][0])) for key, step, _, _, states in records])
        if fail:
            raise OSError(28, "No space left on device")

    async def scenario():
        streams = StreamStore([1], {}, 100, None)
        batcher = Batcher(Accumulator(), streams, ServerMetrics(lambda: len(streams), 8), 8, 0.0)
        batcher.journal = journal
        futures = []
        for key, value in [("a", 1.0), ("b", 10.0)]:
            streams.admit(key)
            futures.append(asyncio.ensure_future(batcher.submit(key, np.array([value], np.float32))))
        task = asyncio.create_task(batcher.run())
        results = await asyncio.gather(*futures, return_exceptions=True)
        await batcher.close()
        await task
        return results, streams

    results, streams = asyncio.run(scenario())
    assert calls == [[("a", 1, 1.0), ("b", 1, 10.0)]]
    if fail:
        assert all(isinstance(r, ModelFailure) and "No space left on device" in str(r) for r in results)
        assert streams.streams["a"].steps == 0 and float(streams.streams["a"].states[0][0]) == 0.0
    else:
        assert [r[1] for r in results] == [1, 1] and streams.streams["b"].steps == 1
