"""The write-ahead log of ``--durability always``: every state update is on disk (fsync'ed) before its answer is sent.

Files ``DIR/streams.wal.<G>`` (generation G, growing) hold records appended in order; each record is framed as
``<u32 payload length><u32 crc32(payload)>`` + payload, and the payload is ``<u8 kind><u16 id length><i64 step>
<f64 created><f64 last_used>`` + the id (UTF-8) + for an update the stream's states as float32 (sum of the state
layout's units, in layout order). ``kind`` 0: the stream's new states; 1: the stream was deleted.

One ``append`` writes all the records of one batched step with one ``write`` and one ``fdatasync``. A record cut
short by a crash (never answered: its fsync did not return) fails its length or checksum, and replay stops there.

Compaction (``StateDir``): start a new generation, write ``streams.npz`` with ``wal_generation`` = the previous one
(the snapshot then contains every record of the older files), then delete those files. Replay reads the files newer
than the snapshot's ``wal_generation``, so a crash at any point of a compaction loses nothing.
"""

from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path
from typing import Iterator

import numpy as np

PREFIX = "streams.wal."
FRAME = struct.Struct("<II")
HEADER = struct.Struct("<BHqdd")
UPDATE, DELETE = 0, 1


def encode(kind: int, stream_id: str, step: int, created: float, last_used: float,
           states: list[np.ndarray] | None) -> bytes:
    """One framed record (``states``: [u] float32 each, for an update)."""
    key = stream_id.encode()
    payload = HEADER.pack(kind, len(key), step, created, last_used) + key
    if states is not None:
        payload += b"".join(np.asarray(s, np.float32).tobytes() for s in states)
    return FRAME.pack(len(payload), zlib.crc32(payload)) + payload


def decode(data: bytes, units: list[int]) -> Iterator[tuple[int, str, int, float, float, list[np.ndarray] | None]]:
    """The complete records of one file's bytes, in order; stops at the first torn or corrupt one."""
    offset, total = 0, sum(units)
    while offset + FRAME.size <= len(data):
        length, crc = FRAME.unpack_from(data, offset)
        payload = data[offset + FRAME.size:offset + FRAME.size + length]
        if len(payload) != length or zlib.crc32(payload) != crc or length < HEADER.size:
            return
        kind, key_length, step, created, last_used = HEADER.unpack_from(payload)
        key = payload[HEADER.size:HEADER.size + key_length].decode()
        body = payload[HEADER.size + key_length:]
        states = None
        if kind == UPDATE:
            values = np.frombuffer(body, np.float32)
            if len(values) != total:
                return
            bounds = np.cumsum([0] + units)
            states = [values[a:b].copy() for a, b in zip(bounds[:-1], bounds[1:])]
        yield kind, key, step, created, last_used, states
        offset += FRAME.size + length


def generations(folder: Path) -> list[int]:
    """The generations of the log files in ``folder``, oldest first."""
    found = []
    for path in folder.glob(PREFIX + "*"):
        suffix = path.name[len(PREFIX):]
        if suffix.isdigit():
            found.append(int(suffix))
    return sorted(found)


class WriteAheadLog:
    """The open log file of one generation; ``append`` is durable when it returns."""

    def __init__(self, folder: Path, generation: int):
        self.folder = folder
        self.generation = generation
        self.path = folder / f"{PREFIX}{generation}"
        self.fd = os.open(self.path, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
        self.size = os.fstat(self.fd).st_size
        _sync_folder(folder)  # the new file's name is durable too

    def append(self, records: list[bytes]) -> None:
        """Write ``records`` and fsync once (raises ``OSError`` when the disk refuses)."""
        data = b"".join(records)
        view = memoryview(data)
        while view:
            written = os.write(self.fd, view)
            view = view[written:]
        os.fdatasync(self.fd)
        self.size += len(data)

    def close(self) -> None:
        if self.fd >= 0:
            os.close(self.fd)
            self.fd = -1


def _sync_folder(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)
