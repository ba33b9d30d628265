"""The stream store: admission and 429, idle eviction, and a persistence round trip that refuses other models."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

from rnncli.errors import UserInputError
from rnncli.serve.inputs import BadRequest
from rnncli.serve.store import StateDir, StreamStore

IDENTITY = {"states": [["lstm_1", "h", 3], ["lstm_1", "c", 3]], "weights_sha256": "abc"}


def store(max_streams: int = 3, idle: float | None = 10.0) -> StreamStore:
    return StreamStore([3, 3], IDENTITY, max_streams, idle)


def test_admission_eviction_and_429():
    streams = store()
    for key in ("a", "b", "c"):
        streams.admit(key, now=0.0)
    with pytest.raises(BadRequest, match="at most 3 streams") as error:
        streams.admit("d", now=5.0)
    assert error.value.status == 429
    streams.admit("a", now=8.0)
    assert sorted(streams.evict_idle(now=15.0, busy={"b"})) == ["c"]      # a was used, b has a chunk waiting
    streams.admit("d", now=15.0)                                          # room again
    assert sorted(streams.streams) == ["a", "b", "d"]
    assert store(idle=None).evict_idle(now=1e9) == []


def test_round_trip_and_identity(tmp_path: Path):
    streams = store()
    stream = streams.admit("sensor-1")
    stream.states = [np.arange(3, dtype=np.float32), -np.arange(3, dtype=np.float32)]
    stream.steps = 7
    folder = StateDir(tmp_path / "states")
    folder.open()
    folder.write(streams.snapshot())
    restored = store()
    assert restored.load(folder.file) == 1
    again = restored.streams["sensor-1"]
    assert again.steps == 7 and again.last_used == stream.last_used
    for a, b in zip(again.states, stream.states):
        np.testing.assert_array_equal(a, b)
    other = StreamStore([3, 3], {**IDENTITY, "weights_sha256": "def"}, 3, None)
    with pytest.raises(UserInputError, match="another model or checkpoint"):
        other.load(folder.file)
    assert (tmp_path / "states" / "run.lock").read_text() == str(os.getpid())  # one server per state folder
    folder.close()
    assert not (tmp_path / "states" / "run.lock").exists()
    (tmp_path / "states" / "streams.npz").write_bytes(b"not a zip")
    with pytest.raises(UserInputError, match="cannot read the saved stream states"):
        store().load(folder.file)


def test_empty_store_round_trip(tmp_path: Path):
    path = tmp_path / "s.npz"
    path.write_bytes(store().snapshot())
    assert store().load(path) == 0


def test_write_ahead_log_replays_in_order_and_stops_at_a_torn_record(tmp_path: Path):
    """Records of two generations replay over the snapshot (updates, a deletion); a record cut short by a crash
    (its fsync never returned, so it was never answered) and everything after it is ignored."""
    from rnncli.serve import wal

    folder = StateDir(tmp_path / "states")
    folder.open()
    streams = store(max_streams=10)
    streams.admit("old").steps = 4
    folder.compact(streams, 0)                        # streams.npz contains generation 0
    first = folder.open_log(1)
    first.append([wal.encode(wal.UPDATE, "a", 1, 10.0, 11.0, [np.ones(3, np.float32), np.zeros(3, np.float32)]),
                  wal.encode(wal.UPDATE, "old", 5, 1.0, 12.0, [np.full(3, 2, np.float32)] * 2)])
    first.close()
    second = folder.open_log(2)
    second.append([wal.encode(wal.UPDATE, "a", 2, 10.0, 13.0, [np.full(3, 7, np.float32)] * 2),
                   wal.encode(wal.DELETE, "old", 0, 14.0, 14.0, None)])
    torn = wal.encode(wal.UPDATE, "a", 3, 10.0, 15.0, [np.full(3, 9, np.float32)] * 2)
    os.write(second.fd, torn[:-5])
    second.close()
    (tmp_path / "states" / "streams.wal.0").write_bytes(torn)   # older than the snapshot: never replayed

    restored = store(max_streams=10)
    restored.load(folder.file)
    assert restored.wal_generation == 0 and restored.streams["old"].restored
    assert folder.replay(restored) == 4
    assert sorted(restored.streams) == ["a"]
    a = restored.streams["a"]
    assert a.steps == 2 and a.created == 10.0 and a.last_used == 13.0 and a.restored
    np.testing.assert_array_equal(a.states[0], np.full(3, 7, np.float32))
    folder.compact(restored, folder.newest_generation(restored))   # folds the log into streams.npz
    assert sorted(p.name for p in (tmp_path / "states").iterdir()) == ["run.lock", "streams.npz"]
    again = store(max_streams=10)
    again.load(folder.file)
    assert folder.replay(again) == 0 and again.streams["a"].steps == 2 and again.wal_generation == 2
    folder.close()


def test_mismatch_names_both_sides_and_a_second_server_names_state_dir(tmp_path: Path):
    folder = StateDir(tmp_path / "states")
    folder.open()
    saved = StreamStore([3, 3], {**IDENTITY, "run": "/runs/a", "checkpoint": "/runs/a/ckpt-3"}, 3, None)
    folder.write(saved.snapshot())
    other = StreamStore([3, 3], {**IDENTITY, "weights_sha256": "def456", "run": "/runs/b",
                                 "checkpoint": "/runs/b/ckpt-9"}, 3, None)
    with pytest.raises(UserInputError) as error:
        other.load(folder.file)
    message = str(error.value)
    assert "saved by run /runs/a, checkpoint /runs/a/ckpt-3, weights sha256 abc" in message
    assert "this server runs run /runs/b, checkpoint /runs/b/ckpt-9, weights sha256 def456" in message
    moved = StreamStore([3, 3], {**IDENTITY, "run": "/elsewhere/a"}, 3, None)   # same weights, moved run: fine
    assert moved.load(folder.file) == 0
    folder.close()
    (tmp_path / "states" / "run.lock").write_text(str(os.getppid()))   # a live process holds it
    with pytest.raises(UserInputError, match=r"--state-dir .*states is in use by another rnncli serve \(pid "
                                             rf"{os.getppid()}\).*another --state-dir") as locked:
        StateDir(tmp_path / "states").open()
    assert locked.value.exit_code == 2


def test_evictions_are_reported_for_the_write_ahead_log():
    streams = store(max_streams=1, idle=10.0)
    told: list[list[str]] = []
    streams.on_evict = told.append
    streams.admit("a", now=0.0)
    streams.admit("b", now=20.0)          # full: a is idle, evicted to admit b
    assert told == [["a"]] and sorted(streams.streams) == ["b"]
