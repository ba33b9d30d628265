"""The run store: the one owner of a run directory, everything needed to continue, predict or audit a run.

Layout::

    RUN/config.yaml            the config as trained: --set overrides applied, file paths absolute (reproduces the run)
    RUN/config.resolved.yaml   every default filled in
    RUN/run.json               provenance: versions, device, seed, command line, times, status (and why it failed),
                               the best epoch
    RUN/history.csv            one row per completed epoch
    RUN/vocab.json             the alphabet of a character model
    RUN/checkpoints/           tf.train.Checkpoint files (keep-N latest); checkpoints/best/ the best by monitor
    RUN/run.lock               pid of the process writing into it

Every file is replaced atomically (write to a temporary file in the same directory, fsync, rename). The
checkpoint files themselves are handled by ``rnncli.runs.checkpoints``.

>>> import tempfile
>>> store = RunStore(tempfile.mkdtemp())
>>> with store.lock(), store.status({"seed": 1}) as info:
...     info["epochs_completed"] = 2
>>> store.read_run_json()["status"], store.read_run_json()["epochs_completed"]
('finished', 2)
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import shutil
from pathlib import Path
from typing import Iterator

import yaml

from rnncli.errors import RunError, UserInputError, failure_kind
from rnncli.runs.faults import StorageError, storage_error
from rnncli.runs.files import RunLock, atomic_write_text
from rnncli.runs.provenance import now


def failure_reason(exc: BaseException) -> dict:
    """What ``run.json`` records about why an attempt ended early: ``{"kind": ..., "message": ...}``."""
    from rnncli.platform.runtime import interrupt_reason

    if isinstance(exc, KeyboardInterrupt):
        signal_name = interrupt_reason(exc)
        return {"kind": "interrupt", "signal": signal_name,
                "message": f"stopped by {signal_name}; the last complete checkpoint is kept"}
    storage = storage_error(exc)
    if storage is not None:  # {kind: disk_full | read_only | permission, path, message}
        return storage.record()
    text = str(exc).strip() or type(exc).__name__
    return {"kind": failure_kind(exc), "message": text.splitlines()[0][:500]}


class RunStore:
    """Paths, atomic readers and writers, the lock and the status record of one run directory."""

    def __init__(self, path: str | Path):
        self.path = Path(path)

    @property
    def config_path(self) -> Path:
        return self.path / "config.yaml"

    @property
    def resolved_path(self) -> Path:
        return self.path / "config.resolved.yaml"

    @property
    def checkpoints(self) -> Path:
        return self.path / "checkpoints"

    @property
    def best_checkpoints(self) -> Path:
        return self.path / "checkpoints" / "best"

    @property
    def history_path(self) -> Path:
        return self.path / "history.csv"

    @property
    def run_json_path(self) -> Path:
        return self.path / "run.json"

    @property
    def vocab_path(self) -> Path:
        return self.path / "vocab.json"

    def exists(self) -> bool:
        return self.path.exists() and any(self.path.iterdir())

    def is_run(self) -> bool:
        return self.config_path.exists() and self.checkpoints.exists()

    def require_run(self) -> None:
        if not self.path.exists():
            raise UserInputError(f"{self.path}: no such run directory")
        if not self.config_path.exists():
            raise UserInputError(f"{self.path}: not an rnncli run directory (no config.yaml)")

    def has_checkpoint(self) -> bool:
        """Whether a checkpoint was ever completed here (``--resume`` has something to continue from)."""
        return (self.checkpoints / "checkpoint").exists()

    def discard_training_state(self) -> None:
        """Start over (``train --force``): remove checkpoints, history and the run record."""
        shutil.rmtree(self.checkpoints, ignore_errors=True)
        for path in (self.history_path, self.run_json_path):
            path.unlink(missing_ok=True)

    def write_config(self, text: str, resolved: dict) -> None:
        atomic_write_text(self.config_path, text)
        atomic_write_text(self.resolved_path, yaml.safe_dump(resolved, sort_keys=False))

    def read_resolved(self) -> dict:
        try:
            return yaml.safe_load(self.resolved_path.read_text(encoding="utf-8")) or {}
        except (OSError, yaml.YAMLError) as exc:
            raise RunError(f"{self.resolved_path}: cannot read ({exc}); resume with --force to skip the "
                           f"config comparison") from None

    def write_run_json(self, info: dict) -> None:
        atomic_write_text(self.run_json_path, json.dumps(info, indent=2, sort_keys=True) + "\n")

    def read_run_json(self) -> dict:
        try:
            return json.loads(self.run_json_path.read_text(encoding="utf-8"))
        except (OSError, ValueError):
            return {}

    def lock(self) -> RunLock:
        """The exclusive lock of this run (a context manager; ``acquire``/``release`` for longer holds)."""
        return RunLock(self.path)

    @contextlib.contextmanager
    def status(self, info: dict) -> Iterator[dict]:
        """Record one attempt in ``run.json``: ``running`` on entry; on exit ``finished``, ``interrupted`` (with
        the signal) or ``failed`` (with the reason). ``info`` (provenance) is merged into what ``run.json`` held;
        the yielded mapping is written on exit, so the block can add to it (epochs completed, best epoch); a
        ``final_status`` it sets replaces ``finished`` (``pruned``: a tuning trial its pruner stopped)."""
        record = {**self.read_run_json(), **info}
        record.setdefault("started", now())
        record.pop("reason", None)
        record.pop("ended", None)
        record["status"] = "running"
        self.write_run_json(record)
        try:
            yield record
        except KeyboardInterrupt as exc:
            record.update(status="interrupted", reason=failure_reason(exc), ended=now())
            self._write_ending(record)
            raise
        except BaseException as exc:
            record.update(status="failed", reason=failure_reason(exc), ended=now())
            self._write_ending(record)
            raise
        record.update(status=record.pop("final_status", None) or "finished", ended=now())
        self.write_run_json(record)

    def _write_ending(self, record: dict) -> None:
        """Record how an attempt ended, where ``run.json`` can still be written: on a full or read-only disk the
        error that ended the attempt is what the user sees, not the failed record of it."""
        try:
            self.write_run_json(record)
        except StorageError:
            pass

    def record_failure(self, exc: BaseException) -> None:
        """Record an attempt that failed before training started (``run.json`` of an existing run only)."""
        if self.run_json_path.exists():
            try:
                self.update_run_json(status="failed", reason=failure_reason(exc), ended=now())
            except StorageError:
                pass  # a read-only or full disk: the error itself is reported

    def update_run_json(self, **fields: object) -> None:
        """Merge ``fields`` into ``run.json``."""
        self.write_run_json({**self.read_run_json(), **fields})

    def write_vocab(self, vocab: str) -> None:
        atomic_write_text(self.vocab_path, json.dumps({"vocab": vocab}) + "\n")

    def best_epoch(self) -> int | None:
        """The epoch of the best checkpoint, as ``run.json`` records it (None for runs without one)."""
        best = self.read_run_json().get("best") or {}
        return best.get("epoch") if isinstance(best.get("epoch"), int) else None

    def read_history(self) -> list[dict]:
        if not self.history_path.exists():
            return []
        try:
            with self.history_path.open(encoding="utf-8") as handle:
                rows = list(csv.DictReader(handle))
            return [{k: (int(v) if k == "epoch" else float(v)) for k, v in row.items() if v not in (None, "")}
                    for row in rows]
        except (OSError, ValueError, csv.Error) as exc:
            raise RunError(f"{self.history_path}: unreadable ({exc}); the checkpoints hold the history too: "
                           f"`--resume` rewrites this file") from None

    def write_history(self, rows: list[dict]) -> None:
        columns: list[str] = []
        for row in rows:
            columns += [k for k in row if k not in columns]
        buffer = io.StringIO()
        writer = csv.DictWriter(buffer, fieldnames=columns, lineterminator="\n")
        writer.writeheader()
        for row in rows:
            writer.writerow({k: (f"{v:.8g}" if isinstance(v, float) else v) for k, v in row.items()})
        atomic_write_text(self.history_path, buffer.getvalue())
