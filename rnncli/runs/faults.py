"""Storage faults: a write that failed because the disk is full, the file system is read-only or the user may not
write there, as one honest error (``StorageError``) instead of an rnncli bug.

They arrive in two shapes: Python's ``OSError`` (``errno`` ENOSPC, EDQUOT, EROFS, EACCES, EPERM) and TensorFlow's
``OpError`` of a C++ write (SaveV2 of a checkpoint, an event file's flush, a SavedModel), whose text holds the
path and the OS reason (``PATH; No space left on device``). ``storage_error`` recognises both; anything else is
left alone (None). No TensorFlow import here: its messages are matched as text.

>>> import errno
>>> error = storage_error(OSError(errno.ENOSPC, "No space left on device", "/runs/a/run.json"))
>>> error.kind, error.path
('disk_full', '/runs/a/run.json')
>>> str(error).split(" (")[0]
'cannot write /runs/a/run.json: No space left on device'
>>> storage_error(RuntimeError("m/c/ckpt-2_temp/part-0.data; Read-only file system [[{{node SaveV2}}]]"), "m/c").kind
'read_only'
>>> storage_error(ValueError("shapes differ")) is None
True
"""

from __future__ import annotations

import errno
import os
import re
import shutil
from pathlib import Path

from rnncli.errors import RunError

KINDS = {errno.ENOSPC: "disk_full", errno.EDQUOT: "disk_full", errno.EROFS: "read_only",
         errno.EACCES: "permission", errno.EPERM: "permission"}
ERRNOS = {"disk_full": errno.ENOSPC, "read_only": errno.EROFS, "permission": errno.EACCES}
# the OS reasons as strerror words them (what TensorFlow's messages carry)
REASONS = {os.strerror(number): kind for number, kind in KINDS.items()}
# TensorFlow words a failed C++ write as "PATH; REASON"
_TEXT = re.compile(r"(\S+); (" + "|".join(re.escape(reason) for reason in REASONS) + ")")
ADVICE = {
    "disk_full": "the disk is full: free some space, then run the command again",
    "read_only": "the file system is read-only: write to another folder",
    "permission": 'this user may not write there: give the folder to this user, or in Docker run with '
                  '--user "$(id -u):$(id -g)"',
}


class StorageError(RunError, OSError):
    """A write failed for a reason of the storage (exit code 1). An ``OSError`` too (with ``errno``), so code that
    handles a failed write as one (the server's periodic save of stream states) still does.

    Attributes:
      kind: ``disk_full``, ``read_only`` or ``permission`` (what ``run.json``'s ``reason`` records).
      path: the file or folder that could not be written.
      reason: the OS reason, as ``strerror`` words it.
    """

    def __init__(self, kind: str, path: str, reason: str, advice: str | None = None, action: str = "write"):
        message = f"cannot {action} {path}: {reason} ({advice or ADVICE[kind]})"
        super().__init__(message)
        self.kind, self.path, self.reason, self.message = kind, path, reason, message
        self.errno = ERRNOS[kind]

    def __str__(self) -> str:
        return self.message

    def record(self) -> dict:
        """``run.json``'s ``reason`` of an attempt that ended with this error."""
        return {"kind": self.kind, "path": self.path, "message": str(self)}


def storage_error(exc: BaseException, path: str | Path | None = None, writing: bool = True) -> StorageError | None:
    """``exc`` as a ``StorageError`` when a full, read-only or forbidden storage caused it (else None). ``path``:
    what was being written (default: the file the ``OSError`` names, or the path in TensorFlow's message).
    ``writing=False``: an error of unknown origin, where a refused permission may have been a read ("cannot
    access"; a full or read-only disk is always a write)."""
    if isinstance(exc, StorageError):
        return exc
    if isinstance(exc, OSError) and exc.errno in KINDS:
        where = path if path is not None else (exc.filename if exc.filename is not None else "?")
        kind = KINDS[exc.errno]
        if kind == "permission" and not writing:
            return StorageError(kind, str(where), os.strerror(exc.errno), action="access",
                                advice='this user may not use it: give it to this user, or in Docker run with '
                                       '--user "$(id -u):$(id -g)"')
        return StorageError(kind, str(where), os.strerror(exc.errno))
    if isinstance(exc, OSError):
        return None
    found = _TEXT.search(str(exc))
    if found is None:
        return None
    return StorageError(REASONS[found.group(2)], str(path if path is not None else found.group(1)), found.group(2))


def remove_partial_checkpoint(prefix: str) -> None:
    """Delete what an unfinished save of checkpoint ``prefix`` left: TensorFlow's ``PREFIX_temp/`` folder of
    shards and any ``PREFIX.*`` file (a checkpoint is listed in the state file only after it is complete)."""
    path = Path(prefix)
    shutil.rmtree(path.parent / (path.name + "_temp"), ignore_errors=True)
    for leftover in path.parent.glob(path.name + ".*"):
        try:
            leftover.unlink()
        except OSError:
            pass


def remove_stale_temporaries(folder: Path) -> None:
    """Delete ``ckpt-N_temp/`` folders that a killed save left in ``folder`` (called with the run locked)."""
    for stale in folder.glob("ckpt-*_temp"):
        shutil.rmtree(stale, ignore_errors=True)
