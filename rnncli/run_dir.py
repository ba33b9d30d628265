"""The run directory: everything needed to continue, predict or audit a training run.

Layout::

    RUN/config.yaml            the config as trained: --set overrides applied, file paths absolute (reproduces the run)
    RUN/config.resolved.yaml   every default filled in
    RUN/run.json               provenance: versions, device, seed, command line, times
    RUN/history.csv            one row per completed epoch
    RUN/checkpoints/           tf.train.Checkpoint files (keep-N latest); checkpoints/best/ the best by monitor
    RUN/run.lock               pid of the process training in it

Every file is replaced atomically (write to a temporary file in the same directory, fsync, rename).
"""

from __future__ import annotations

import csv
import io
import json
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import yaml

from rnncli.errors import RunError, UserInputError


def atomic_write_text(path: Path, text: str) -> None:
    """Replace ``path`` with ``text`` so readers see either the old or the new file, never a partial one."""
    atomic_write_bytes(path, text.encode("utf-8"))


def atomic_write_bytes(path: Path, data: bytes) -> None:
    """Write to a temporary file in the same folder, fsync, then rename over ``path``."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


class RunLock:
    """An exclusive lock on a run directory: ``run.lock`` holds the owner's pid; stale locks are taken over."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / "run.lock"
        self.held = False

    def acquire(self) -> None:
        self.path.parent.mkdir(parents=True, exist_ok=True)
        for _ in range(2):
            try:
                fd = os.open(self.path, os.O_CREAT | os.O_EXCL | os.O_WRONLY)
            except FileExistsError:
                owner = self._owner()
                if owner is None and self._age() < 5.0:
                    owner = -1  # just created by another process that has not written its pid yet
                if owner == -1 or (owner is not None and _alive(owner) and owner != os.getpid()):
                    raise RunError(f"{self.path.parent} is in use by another rnncli process (pid {owner}); wait for "
                                   f"it to finish or pick another run directory") from None
                self.path.unlink(missing_ok=True)  # stale: its owner is gone
                continue
            with os.fdopen(fd, "w") as handle:
                handle.write(str(os.getpid()))
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


class RunDir:
    """Paths and atomic readers/writers of one run directory."""

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

    def exists(self) -> bool:
        return self.path.exists() and any(self.path.iterdir())

    def is_run(self) -> bool:
        return self.config_path.exists() and self.checkpoints.exists()

    def require_run(self) -> None:
        if not self.path.exists():
            raise UserInputError(f"{self.path}: no such run directory")
        if not self.config_path.exists():
            raise UserInputError(f"{self.path}: not an rnncli run directory (no config.yaml)")

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
