"""Crash-safe file primitives of a run directory: atomic replacement and the run lock."""

from __future__ import annotations

import contextlib
import os
import secrets
import time
from pathlib import Path
from typing import Any

from rnncli.errors import RunError
from rnncli.runs.faults import storage_error


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see either the old or the new file, never a partial one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``.

    The file gets the mode ``open()`` gives a new file (0666 less the process umask), not ``mkstemp``'s 0600, so a
    run written by one user can be read by another (``docker run --user``). A write that fails for a reason of the
    storage (full, read-only, forbidden) raises ``StorageError`` naming ``path``, and leaves no temporary file.
    """
    tmp: Path | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = _create_temporary(path)
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException as exc:
        if tmp is not None:
            with contextlib.suppress(OSError):
                os.unlink(tmp)
        storage = storage_error(exc, path) if isinstance(exc, OSError) else None
        if storage is not None:
            raise storage from None
        raise


def _create_temporary(path: Path) -> tuple[int, Path]:
    """A new ``.NAME.XXXXXXXX.tmp`` beside ``path``, opened for writing with mode 0666 & ~umask."""
    for _ in range(100):
        tmp = path.parent / f".{path.name}.{secrets.token_hex(4)}.tmp"
        try:
            return os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_CLOEXEC", 0), 0o666), tmp
        except FileExistsError:
            continue
    raise FileExistsError(f"{path.parent}: cannot pick a temporary file name")


class RunLock:
    """An exclusive lock on a run directory: ``run.lock`` holds the owner's pid; stale locks are taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "run.lock"
        self.held = False
        self.created_folder = False

    def acquire(self) -> None:
        self.created_folder = not self.path.parent.exists()
        for _ in range(2):
            try:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o666)
            except FileExistsError:
                owner = self._owner()
                if owner is None and self._age() < 5.0:
                    owner = -1  # just created by another process that has not written its pid yet
                if owner == -1 or (owner is not None and _alive(owner) and owner != os.getpid()):
                    raise RunError(f"{self.path.parent} is in use by another rnncli process (pid {owner}); wait for "
                                   f"it to finish or pick another run directory") from None
                self.path.unlink(missing_ok=True)  # stale: its owner is gone
                continue
            except OSError as exc:  # the folder or the file named by the error (an unwritable mount: its folder)
                storage = storage_error(exc)
                if storage is None:
                    raise
                raise storage from None
            try:
                with os.fdopen(fd, "w") as handle:
                    handle.write(str(os.getpid()))
            except OSError as exc:  # a full disk: the empty lock file would look taken for 5 s
                self.path.unlink(missing_ok=True)
                storage = storage_error(exc, self.path)
                if storage is None:
                    raise
                raise storage from None
            self.held = True
            return
        raise RunError(f"cannot lock {self.path}")

    def _owner(self) -> int | None:
        try:
            return int(self.path.read_text().strip() or "0") or None
        except (OSError, ValueError):
            return None

    def _age(self) -> float:
        try:
            return time.time() - self.path.stat().st_mtime
        except OSError:
            return 1e9

    def release(self) -> None:
        if self.held:
            self.path.unlink(missing_ok=True)
            self.held = False
            if self.created_folder:  # a command that failed before writing anything leaves no empty run folder
                with contextlib.suppress(OSError):
                    self.path.parent.rmdir()

    def __enter__(self) -> "RunLock":
        self.acquire()
        return self

    def __exit__(self, *exc: Any) -> None:
        self.release()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True
