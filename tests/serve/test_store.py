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
