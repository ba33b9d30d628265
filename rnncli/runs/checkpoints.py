"""The checkpoints of a run: the newest ``keep`` in ``checkpoints/``, the best one in ``checkpoints/best/``.

A checkpoint holds everything a resumed run needs to continue bit for bit: the model, the optimizer, the
dropout/shuffle RNG and the loop state (counters, and the state of every epoch hook, see
``rnncli.training.hooks``). Restoring is split in two: the model, optimizer and RNG must match the checkpoint
exactly, while loop state that an older rnncli did not save keeps its defaults.
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any

from rnncli.errors import RunError, UserInputError
from rnncli.runs.faults import StorageError, remove_partial_checkpoint, remove_stale_temporaries, storage_error
from rnncli.runs.files import atomic_write_text
from rnncli.platform.runtime import deferred_interrupts

WHICH = ("latest", "best")
HOST = "/job:localhost/replica:0/task:0/device:CPU:0"


class Checkpoints:
    """Create, save and restore the checkpoints of one run.

    Args:
      trackables: ``{"model": ..., "optimizer": ..., "rng": ..., "loop": ...}`` (``Engine.trackables()``).
      directory: the run's ``checkpoints/`` folder (the best one goes to ``directory/best``).
      keep: how many of the newest checkpoints to keep (1 with ``save_best_only``).
      every_n_epochs: cadence of ``due`` (the last epoch is always due).

    Each folder has TensorFlow's ``checkpoint`` state file (what ``tf.train.latest_checkpoint`` and
    ``tf.train.CheckpointManager`` read), rewritten atomically after every save, with names relative to the folder
    so that a run directory can be moved. A save runs as one traced TensorFlow function (``CheckpointWriter``).
    """

    def __init__(self, trackables: dict[str, Any], directory: Path, keep: int = 3, every_n_epochs: int = 1):
        import tensorflow as tf

        self.directory = Path(directory)
        self.keep = keep
        self.every_n_epochs = every_n_epochs
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.essential = tf.train.Checkpoint(**{k: v for k, v in trackables.items() if k != "loop"})
        self.counters = tf.train.Checkpoint(loop=trackables["loop"])
        self.writer = CheckpointWriter(self.checkpoint, list(trackables.values()))
        self.recorded = {which: _recorded_paths(self.folder(which)) for which in WHICH}
        # numbers continue after the files already there: a resumed run's save counter starts again from zero, and
        # reusing a number would overwrite an older file whose place in keep-N is earlier
        self.next_number = 1 + max((_number_of(p) for p in [*self.directory.glob("ckpt-*.index"),
                                                             *self.directory.glob("best/ckpt-*.index")]), default=0)

    @classmethod
    def for_run(cls, trackables: dict[str, Any], directory: Path, settings: dict) -> "Checkpoints":
        """From the resolved ``training.checkpoint`` section."""
        keep = 1 if settings["save_best_only"] else settings["keep"]
        return cls(trackables, directory, keep, settings["every_n_epochs"])

    def folder(self, which: str) -> Path:
        """``checkpoints/`` for ``latest``, ``checkpoints/best/`` for ``best``."""
        if which not in WHICH:
            raise UserInputError(f"--checkpoint must be `latest` or `best`, got {which!r}")
        return self.directory if which == "latest" else self.directory / "best"

    def due(self, epoch: int, last: bool) -> bool:
        """Whether epoch ``epoch`` (1-based) writes a checkpoint: every N epochs, and the last one."""
        return last or epoch % self.every_n_epochs == 0

    def exists(self, which: str = "latest") -> bool:
        self.folder(which)
        return bool(self.recorded[which])

    def newest(self, which: str = "latest") -> str | None:
        """The path prefix of the newest checkpoint of ``which`` (None before the first)."""
        self.folder(which)
        return self.recorded[which][-1] if self.recorded[which] else None

    def save(self, which: str = "latest") -> str:
        """Write a checkpoint, then record it and drop those beyond ``keep``; SIGINT/SIGTERM wait until all is
        done. TensorFlow writes the files under a temporary name and renames them, and the state file is replaced
        atomically, so an interruption at any point leaves the previous checkpoints intact and listed."""
        with deferred_interrupts():
            folder = self.folder(which)
            prefix = str(folder / f"ckpt-{self.next_number}")
            try:
                folder.mkdir(parents=True, exist_ok=True)
                remove_stale_temporaries(folder)
                self.writer.write(prefix)
                self.next_number += 1
                self._record(which, prefix)
            except Exception as exc:
                # a full, read-only or forbidden disk (TensorFlow's SaveV2 fails with the OS reason in its text):
                # nothing of the unfinished checkpoint stays, the state file still lists the last good ones
                if prefix not in self.recorded[which]:
                    remove_partial_checkpoint(prefix)
                storage = storage_error(exc, folder)
                if storage is None:
                    raise
                raise storage from None
            return prefix

    def save_best(self, same_as: str | None = None) -> str:
        """Write the best checkpoint. ``same_as``: the path of a checkpoint saved since the model last changed (the
        newest one, written in the same epoch): its files are hard-linked into ``best/`` instead of serialized again.
        Falls back to a normal save where links are impossible. Interrupts wait until it is done."""
        if same_as is None:
            return self.save("best")
        with deferred_interrupts():
            try:
                return self._link_best(same_as)
            except OSError:
                return self.save("best")
            except StorageError:  # the state file could not be written: the links are not a listed checkpoint
                linked = str(self.folder("best") / Path(same_as).name)
                if linked not in self.recorded["best"]:
                    remove_partial_checkpoint(linked)
                raise

    def _link_best(self, source: str) -> str:
        """Link ``source``'s files into ``best/``, record them in best's state file (an atomic write), then remove
        the previous best: a crash at any point leaves one complete best checkpoint."""
        best_dir = self.folder("best")
        best_dir.mkdir(parents=True, exist_ok=True)
        prefix = str(best_dir / Path(source).name)
        for path in _checkpoint_files(source):
            linking = best_dir / (path.name + ".linking")
            linking.unlink(missing_ok=True)
            try:
                os.link(path, linking)
                os.replace(linking, best_dir / path.name)
            except OSError:
                linking.unlink(missing_ok=True)
                raise
        self._record("best", prefix)
        return prefix

    def _record(self, which: str, prefix: str) -> None:
        """Append ``prefix`` to ``which``'s list, keep the newest ``keep`` (1 for best), rewrite the state file,
        then delete the files of the checkpoints dropped from it."""
        folder = self.folder(which)
        paths = [p for p in self.recorded[which] if p != prefix] + [prefix]
        keep = self.keep if which == "latest" else 1
        dropped, paths = paths[:-keep], paths[-keep:]
        atomic_write_text(folder / "checkpoint", checkpoint_state_text([Path(p).name for p in paths], time.time()))
        self.recorded[which] = paths
        for old in dropped:
            for path in _checkpoint_files(old):
                path.unlink(missing_ok=True)

    def restore(self, which: str = "latest") -> tuple[str, list[str]]:
        """Restore the newest intact checkpoint of ``which``; returns (path, notes about skipped corrupt ones)."""
        folder = self.folder(which)
        notes: list[str] = []
        candidates = list(reversed(self.recorded[which]))
        if not candidates:
            raise UserInputError(f"{folder}: no checkpoint found (has the run finished an epoch?)")
        for path in candidates:
            try:
                status = self.essential.read(path)
                status.assert_existing_objects_matched()
                status.expect_partial()  # the loop state is restored next, from the same file
                self.counters.read(path).expect_partial()
                return path, notes
            except Exception as exc:  # a damaged file fails in many ways (OpError, IndexError, ValueError, ...)
                reason = str(exc).splitlines()[0][:200]
                notes.append(f"checkpoint {path} is unreadable ({reason}); falling back to an older one")
        raise RunError(f"{folder}: every checkpoint is unreadable: " + "; ".join(notes))


class CheckpointWriter:
    """Writes ``checkpoint`` through one traced ``tf.function``: a single graph run reads every variable and writes
    the files. Eager ``tf.train.Checkpoint.write`` walks the object graph and reads each variable from Python on
    every call (the sunspots run: 24-28 ms a save, against 5 ms traced).

    Tracing costs about 0.17 s, so the first write of a process is eager (``predict``, ``reset-states`` and
    ``import`` save once) and the trace is made on the second. It captures the variables that exist when it is
    made, so it is checked before every write against the variables reachable from ``roots`` (about 1 ms) and made
    again when they changed. Distributed variables (a ``tf.distribute`` strategy) are always written eagerly, as
    TensorFlow's own ``CheckpointManager`` does.
    """

    def __init__(self, checkpoint: Any, roots: list[Any]):
        self.checkpoint = checkpoint
        self.roots = roots
        self.writes = 0
        self._traced: Any = None
        self._signature: tuple[int, ...] | None = None

    def variables(self) -> list[Any]:
        """Every variable reachable from the roots (``tf.Module``s, or objects with a ``state`` variable such as
        ``tf.random.Generator``)."""
        found: list[Any] = []
        for root in self.roots:
            found.extend(root.variables if hasattr(root, "variables") else [root.state])
        return found

    def write(self, prefix: str) -> None:
        """Write the checkpoint files of ``prefix`` (``prefix.index``, ``prefix.data-*``)."""
        import tensorflow as tf

        # TensorFlow's save counter (made on first use) is saved too: an older rnncli restores with
        # `Checkpoint.restore`, which requires it in the files
        counter = self.checkpoint.save_counter
        self.writes += 1
        traced = self._current_trace() if self.writes > 1 else None
        if traced is None:
            counter.assign_add(1)
            self.checkpoint.write(prefix)
        else:
            traced(tf.constant(prefix))

    def _current_trace(self) -> Any:
        """The traced write for the variables reachable now (traced again when they changed); None for
        distributed variables."""
        import tensorflow as tf

        variables = self.variables()
        if any(isinstance(v, tf.distribute.DistributedValues) for v in variables):
            return None
        signature = tuple(id(v) for v in variables)
        if self._traced is None or signature != self._signature:
            checkpoint, counter = self.checkpoint, self.checkpoint.save_counter

            def write(path: Any) -> Any:
                counter.assign_add(1)
                # the host of this process: the object graph's constant (placed on "/cpu:0") then shares a task with
                # the variables, and the files are one data shard, as an eager write makes
                with tf.device(HOST):
                    return checkpoint.write(path)

            self._traced = tf.function(write, autograph=False)
            self._signature = signature
        return self._traced


def checkpoint_state_text(names: list[str], now: float) -> str:
    """TensorFlow's ``checkpoint`` state file (a ``CheckpointState`` text proto) listing ``names``, oldest first,
    as ``tf.train.get_checkpoint_state`` and ``tf.train.CheckpointManager`` read it. Written by rnncli itself
    (TensorFlow's writer, ``update_checkpoint_state``, is deprecated and warns on every call): names relative to
    the folder, so that a run directory can be moved; timestamps after ``last_preserved_timestamp``, or a
    CheckpointManager reading the file would not list them.

    >>> print(checkpoint_state_text(["ckpt-1", "ckpt-2"], 100.5), end="")
    model_checkpoint_path: "ckpt-2"
    all_model_checkpoint_paths: "ckpt-1"
    all_model_checkpoint_paths: "ckpt-2"
    all_model_checkpoint_timestamps: 100.5
    all_model_checkpoint_timestamps: 100.5
    last_preserved_timestamp: 99.5
    """
    lines = [f"model_checkpoint_path: {json.dumps(names[-1])}"]
    lines += [f"all_model_checkpoint_paths: {json.dumps(name)}" for name in names]
    lines += [f"all_model_checkpoint_timestamps: {now!r}" for _ in names]
    lines.append(f"last_preserved_timestamp: {now - 1.0!r}")
    return "\n".join(lines) + "\n"


def _recorded_paths(folder: Path) -> list[str]:
    """The checkpoints listed in ``folder``'s state file, oldest first (``[]`` when there is none)."""
    import tensorflow as tf

    state = tf.train.get_checkpoint_state(str(folder)) if (folder / "checkpoint").exists() else None
    return [str(folder / Path(p).name) for p in state.all_model_checkpoint_paths] if state is not None else []


def _checkpoint_files(prefix: str) -> list[Path]:
    """The files of the checkpoint ``prefix`` (``ckpt-N.index`` and its data shards)."""
    path = Path(prefix)
    return sorted(path.parent.glob(path.name + ".*"))


def _number_of(index_file: Path) -> int:
    """N of ``ckpt-N.index`` (0 for a name that is not one)."""
    number = index_file.name[len("ckpt-"):-len(".index")]
    return int(number) if number.isdigit() else 0
