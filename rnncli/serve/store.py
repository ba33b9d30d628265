"""The states of every stream: admission (``--max-streams``), idle eviction, and persistence under ``--state-dir``.

A stream's state is one float32 vector per entry of the model's state layout (``[u]`` each). The store is used from
the server's event-loop thread only; ``snapshot`` copies it there and ``write`` can then run in any thread.

``DIR/streams.npz`` holds ``ids`` [N] (str), ``state_<i>`` [N, u_i] float32, ``steps`` [N] int64 and ``last_used``
[N] float64 (Unix seconds), plus ``identity``: the model's state layout and the checkpoint the states were made
with, so states are never continued by another model. It is replaced atomically (``rnncli.runs.files``), and
``DIR/run.lock`` keeps a second server off the same folder.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnncli.errors import UserInputError
from rnncli.runs.files import atomic_write_bytes
from rnncli.runs.files import RunLock
from rnncli.serve.inputs import BadRequest

STATE_FILE = "streams.npz"


@dataclass
class Stream:
    """One stream: its states (one [u] vector per state), steps consumed, last use (Unix seconds)."""

    states: list[np.ndarray]
    steps: int = 0
    last_used: float = field(default_factory=time.time)


class StreamStore:
    """Stream id -> ``Stream``. ``version`` grows with every change (the periodic save writes only after one)."""

    def __init__(self, units: list[int], identity: dict, max_streams: int, idle_timeout: float | None):
        self.units = units
        self.identity = identity
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self.streams: dict[str, Stream] = {}
        self.version = 0

    def __len__(self) -> int:
        return len(self.streams)

    def new_stream(self) -> Stream:
        return Stream([np.zeros(u, np.float32) for u in self.units])

    def admit(self, stream_id: str, now: float | None = None) -> Stream:
        """The stream (created from zeros on first use, after evicting idle streams when full), marked as used.
        Raises ``BadRequest(429)`` when ``max_streams`` streams are live."""
        now = time.time() if now is None else now
        stream = self.streams.get(stream_id)
        if stream is None:
            if len(self.streams) >= self.max_streams:
                self.evict_idle(now)
            if len(self.streams) >= self.max_streams:
                raise BadRequest(429, f"the server keeps at most {self.max_streams} streams; delete finished ones "
                                      f"(DELETE /v1/streams/ID) or retry later")
            stream = self.streams[stream_id] = self.new_stream()
            self.version += 1
        stream.last_used = now
        return stream

    def delete(self, stream_id: str) -> bool:
        if self.streams.pop(stream_id, None) is None:
            return False
        self.version += 1
        return True

    def evict_idle(self, now: float | None = None, busy: set[str] | frozenset = frozenset()) -> list[str]:
        """Drop streams unused for longer than ``idle_timeout`` (never those in ``busy``); returns their ids."""
        if self.idle_timeout is None:
            return []
        now = time.time() if now is None else now
        idle = [key for key, stream in self.streams.items()
                if now - stream.last_used > self.idle_timeout and key not in busy]
        for key in idle:
            del self.streams[key]
        if idle:
            self.version += 1
        return idle

    def updated(self) -> None:
        self.version += 1

    # -- persistence -------------------------------------------------------------------------------------------

    def snapshot(self) -> bytes:
        """The whole store as ``.npz`` bytes (no pickles)."""
        ids = list(self.streams)
        arrays: dict[str, np.ndarray] = {
            "ids": np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1"),
            "steps": np.array([self.streams[k].steps for k in ids], np.int64),
            "last_used": np.array([self.streams[k].last_used for k in ids], np.float64),
            "identity": np.array(json.dumps(self.identity, sort_keys=True)),
        }
        for index, units in enumerate(self.units):
            arrays[f"state_{index}"] = (np.stack([self.streams[k].states[index] for k in ids]) if ids
                                        else np.zeros((0, units), np.float32))
        buffer = io.BytesIO()
        np.savez(buffer, **arrays)
        return buffer.getvalue()

    def load(self, path: Path) -> int:
        """Replace the streams with those saved in ``path``; returns how many. ``UserInputError`` when the file
        is unreadable or holds states of another model or checkpoint."""
        try:
            with np.load(path, allow_pickle=False) as archive:
                saved = json.loads(str(archive["identity"]))
                if saved != json.loads(json.dumps(self.identity, sort_keys=True)):
                    raise UserInputError(
                        f"{path} holds the stream states of another model or checkpoint ({_brief(saved)}); this "
                        f"server runs {_brief(self.identity)}. Use another --state-dir, or delete the file to "
                        f"start every stream from zeros")
                ids = [str(key) for key in archive["ids"]]
                states = [np.asarray(archive[f"state_{i}"], np.float32) for i in range(len(self.units))]
                steps = archive["steps"]
                last_used = archive["last_used"]
        except UserInputError:
            raise
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise UserInputError(f"{path}: cannot read the saved stream states ({exc}); move the file away to "
                                 f"start every stream from zeros") from None
        self.streams = {key: Stream([s[row].copy() for s in states], int(steps[row]), float(last_used[row]))
                        for row, key in enumerate(ids)}
        self.version += 1
        return len(ids)


def _brief(identity: dict) -> str:
    states = ", ".join(f"{layer}.{name}[{units}]" for layer, name, units in identity.get("states", []))
    return f"checkpoint {identity.get('checkpoint')}, states {states or 'none'}"


class StateDir:
    """The ``--state-dir`` folder: locked while a server uses it; ``write`` replaces the state file atomically."""

    def __init__(self, path: Path):
        self.path = path
        self.file = path / STATE_FILE
        self.lock = RunLock(path)

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"--state-dir {self.path}: cannot create ({exc.strerror})") from None
        self.lock.acquire()

    def write(self, data: bytes) -> None:
        atomic_write_bytes(self.file, data)

    def close(self) -> None:
        self.lock.release()
