"""The run directory: the store (files, lock, status), its checkpoints, and provenance."""

from rnncli.runs.files import RunLock, atomic_write_bytes, atomic_write_text
from rnncli.runs.store import RunStore

__all__ = ["RunLock", "RunStore", "atomic_write_bytes", "atomic_write_text"]
