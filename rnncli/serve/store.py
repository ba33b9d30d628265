"""The states of every stream: admission (``--max-streams``), idle eviction, and persistence under ``--state-dir``.

A stream's state is one float32 vector per entry of the model's state layout (``[u]`` each). The store is used from
the server's event-loop thread only; ``snapshot`` copies it there and ``write`` can then run in any thread.

A stream's ``steps`` counts the chunks applied to it since it started (or was deleted, or its state was put): the
step counter every answer carries, which lets a client notice a stream that restarted from an older save.

``DIR/streams.npz`` holds ``ids`` [N] (str), ``state_<i>`` [N, u_i] float32, ``steps`` [N] int64, ``last_used`` and
``created`` [N] float64 (Unix seconds), ``wal_generation`` (the write-ahead log files it already contains, see
``wal``), plus ``identity``: the model's state layout and a fingerprint of the weights the states were made with
(and, for messages, the run and checkpoint), so states are never continued by another model. It is replaced
atomically (``rnncli.runs.files``), and ``DIR/run.lock`` keeps a second server off the same folder.
"""

from __future__ import annotations

import io
import json
import time
import zipfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from rnncli.errors import RunError, UserInputError
from rnncli.runs.files import atomic_write_bytes
from rnncli.runs.files import RunLock
from rnncli.serve import wal
from rnncli.serve.inputs import BadRequest

STATE_FILE = "streams.npz"


@dataclass
class Stream:
    """One stream: its states (one [u] vector per state), chunks applied, last use and creation (Unix seconds),
    and whether it was read back from ``--state-dir`` at start-up."""

    states: list[np.ndarray]
    steps: int = 0
    last_used: float = field(default_factory=time.time)
    created: float = field(default_factory=time.time)
    restored: bool = False

    def describe(self, stream_id: str) -> dict:
        """What ``GET /v1/streams/ID`` answers."""
        return {"id": stream_id, "step": self.steps, "created": _iso(self.created), "last_used": _iso(self.last_used),
                "created_unix": self.created, "last_used_unix": self.last_used, "restored_from_disk": self.restored}


def _iso(unix: float) -> str:
    return time.strftime("%Y-%m-%dT%H:%M:%S", time.gmtime(unix)) + f".{int(unix % 1 * 1000):03d}Z"


MATCHED_IDENTITY = ("states", "weights_sha256")  # what must agree; the run and checkpoint path are shown only


class StreamStore:
    """Stream id -> ``Stream``. ``version`` grows with every change (the periodic save writes only after one)."""

    def __init__(self, units: list[int], identity: dict, max_streams: int, idle_timeout: float | None):
        self.units = units
        self.identity = identity
        self.max_streams = max_streams
        self.idle_timeout = idle_timeout
        self.streams: dict[str, Stream] = {}
        self.version = 0
        self.wal_generation = -1  # the write-ahead log files already contained in the loaded streams.npz
        self.on_evict: Callable[[list[str]], None] | None = None  # told of every eviction (the write-ahead log)

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
            if self.on_evict is not None:
                self.on_evict(idle)
        return idle

    def updated(self) -> None:
        self.version += 1

    def put(self, stream_id: str, states: list[np.ndarray], step: int, now: float | None = None) -> Stream:
        """Create or replace a stream from explicit states ([u] float32 each, checked by the caller)."""
        now = time.time() if now is None else now
        if stream_id not in self.streams and len(self.streams) >= self.max_streams:
            self.evict_idle(now)
            if len(self.streams) >= self.max_streams:
                raise BadRequest(429, f"the server keeps at most {self.max_streams} streams; delete finished ones "
                                      f"(DELETE /v1/streams/ID) or retry later")
        stream = self.streams[stream_id] = Stream([np.asarray(v, np.float32) for v in states], step, now, now)
        self.version += 1
        return stream

    def apply_logged(self, stream_id: str, step: int, created: float, last_used: float,
                     states: list[np.ndarray] | None) -> None:
        """Replay one write-ahead-log record: the stream's new states, or its deletion (``states`` None)."""
        if states is None:
            self.streams.pop(stream_id, None)
        else:
            self.streams[stream_id] = Stream(states, step, last_used, created, restored=True)
        self.version += 1

    # -- persistence -------------------------------------------------------------------------------------------

    def snapshot(self, wal_generation: int = -1) -> bytes:
        """The whole store as ``.npz`` bytes (no pickles); ``wal_generation``: the last log file it contains."""
        ids = list(self.streams)
        arrays: dict[str, np.ndarray] = {
            "ids": np.array(ids, dtype=str) if ids else np.zeros(0, dtype="<U1"),
            "steps": np.array([self.streams[k].steps for k in ids], np.int64),
            "last_used": np.array([self.streams[k].last_used for k in ids], np.float64),
            "created": np.array([self.streams[k].created for k in ids], np.float64),
            "wal_generation": np.array(wal_generation, np.int64),
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
                ours = json.loads(json.dumps(self.identity, sort_keys=True))
                if any(saved.get(key) != ours.get(key) for key in MATCHED_IDENTITY):
                    raise UserInputError(
                        f"--state-dir {path.parent}: {path.name} holds the stream states of another model or "
                        f"checkpoint: saved by {_brief(saved)}; this server runs {_brief(ours)}. Use another "
                        f"--state-dir, or delete the file to start every stream from zeros")
                ids = [str(key) for key in archive["ids"]]
                states = [np.asarray(archive[f"state_{i}"], np.float32) for i in range(len(self.units))]
                steps = archive["steps"]
                last_used = archive["last_used"]
                created = archive["created"] if "created" in archive.files else last_used
                generation = int(archive["wal_generation"]) if "wal_generation" in archive.files else -1
        except UserInputError:
            raise
        except (OSError, KeyError, ValueError, EOFError, zipfile.BadZipFile) as exc:
            raise UserInputError(f"{path}: cannot read the saved stream states ({exc}); move the file away to "
                                 f"start every stream from zeros") from None
        self.streams = {key: Stream([s[row].copy() for s in states], int(steps[row]), float(last_used[row]),
                                    float(created[row]), restored=True)
                        for row, key in enumerate(ids)}
        self.wal_generation = generation
        self.version += 1
        return len(ids)


def _brief(identity: dict) -> str:
    """Run, checkpoint, weights fingerprint and state layout of one side of a mismatch (unknown parts: ``?``)."""
    states = ", ".join(f"{layer}.{name}[{units}]" for layer, name, units in identity.get("states", []))
    weights = str(identity.get("weights_sha256") or "?")[:12]
    return (f"run {identity.get('run') or '?'}, checkpoint {identity.get('checkpoint') or '?'}, weights sha256 "
            f"{weights}, states {states or 'none'}")


class StateDir:
    """The ``--state-dir`` folder: locked while a server uses it; ``write`` replaces ``streams.npz`` atomically;
    the write-ahead log files of ``--durability always`` beside it (``wal``)."""

    def __init__(self, path: Path):
        self.path = path
        self.file = path / STATE_FILE
        self.lock = RunLock(path)

    def open(self) -> None:
        try:
            self.path.mkdir(parents=True, exist_ok=True)
        except OSError as exc:
            raise UserInputError(f"--state-dir {self.path}: cannot create ({exc.strerror})") from None
        try:
            self.lock.acquire()
        except RunError:
            owner = self.lock._owner()
            raise UserInputError(f"--state-dir {self.path} is in use by another rnncli serve (pid "
                                 f"{owner if owner and owner > 0 else '?'}): stop that server or give this one "
                                 f"another --state-dir") from None

    def write(self, data: bytes) -> None:
        atomic_write_bytes(self.file, data)

    def replay(self, store: StreamStore) -> int:
        """Apply the log records newer than the loaded snapshot to ``store``; returns how many were applied."""
        count = 0
        for generation in wal.generations(self.path):
            if generation <= store.wal_generation:
                continue
            try:
                data = (self.path / f"{wal.PREFIX}{generation}").read_bytes()
            except OSError as exc:
                raise UserInputError(f"--state-dir {self.path}: cannot read the write-ahead log ({exc.strerror})"
                                     ) from None
            for kind, key, step, created, last_used, states in wal.decode(data, store.units):
                store.apply_logged(key, step, created, last_used, None if kind == wal.DELETE else states)
                count += 1
        return count

    def newest_generation(self, store: StreamStore) -> int:
        return max(wal.generations(self.path) + [store.wal_generation])

    def compact(self, store: StreamStore, generation: int) -> None:
        """Write ``streams.npz`` containing every log file up to ``generation``, then delete those files."""
        self.write(store.snapshot(generation))
        store.wal_generation = generation
        self.drop_logs(generation)

    def drop_logs(self, through: int) -> None:
        for old in wal.generations(self.path):
            if old <= through:
                (self.path / f"{wal.PREFIX}{old}").unlink(missing_ok=True)

    def open_log(self, generation: int) -> wal.WriteAheadLog:
        try:
            return wal.WriteAheadLog(self.path, generation)
        except OSError as exc:
            raise UserInputError(f"--state-dir {self.path}: cannot write the write-ahead log ({exc.strerror})"
                                 ) from None

    def close(self) -> None:
        self.lock.release()
