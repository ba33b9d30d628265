"""The checkpoints of a run: the newest ``keep`` in ``checkpoints/``, the best one in ``checkpoints/best/``.

A checkpoint holds everything a resumed run needs to continue bit for bit: the model, the optimizer, the
dropout/shuffle RNG and the loop state (counters, and the state of every epoch hook, see
``rnncli.training.hooks``). Restoring is split in two: the model, optimizer and RNG must match the checkpoint
exactly, while loop state that an older rnncli did not save keeps its defaults.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any

from rnncli.errors import RunError, UserInputError
from rnncli.runtime import deferred_interrupts

WHICH = ("latest", "best")


class Checkpoints:
    """Create, save and restore the checkpoints of one run.

    Args:
      trackables: ``{"model": ..., "optimizer": ..., "rng": ..., "loop": ...}`` (``Engine.trackables()``).
      directory: the run's ``checkpoints/`` folder (the best one goes to ``directory/best``).
      keep: how many of the newest checkpoints to keep (1 with ``save_best_only``).
      every_n_epochs: cadence of ``due`` (the last epoch is always due).
    """

    def __init__(self, trackables: dict[str, Any], directory: Path, keep: int = 3, every_n_epochs: int = 1):
        import tensorflow as tf

        self.directory = Path(directory)
        self.every_n_epochs = every_n_epochs
        self.checkpoint = tf.train.Checkpoint(**trackables)
        self.essential = tf.train.Checkpoint(**{k: v for k, v in trackables.items() if k != "loop"})
        self.counters = tf.train.Checkpoint(loop=trackables["loop"])
        self.latest = tf.train.CheckpointManager(self.checkpoint, str(self.directory), max_to_keep=keep)
        # numbers continue after the files already there: a resumed run's save counter starts again from zero, and
        # reusing a number would overwrite an older file whose place in keep-N is earlier
        self.next_number = 1 + max((_number_of(p) for p in [*self.directory.glob("ckpt-*.index"),
                                                             *self.directory.glob("best/ckpt-*.index")]), default=0)
        self.best = tf.train.CheckpointManager(self.checkpoint, str(self.directory / "best"), max_to_keep=1)

    @classmethod
    def for_run(cls, trackables: dict[str, Any], directory: Path, settings: dict) -> "Checkpoints":
        """From the resolved ``training.checkpoint`` section."""
        keep = 1 if settings["save_best_only"] else settings["keep"]
        return cls(trackables, directory, keep, settings["every_n_epochs"])

    def due(self, epoch: int, last: bool) -> bool:
        """Whether epoch ``epoch`` (1-based) writes a checkpoint: every N epochs, and the last one."""
        return last or epoch % self.every_n_epochs == 0

    def exists(self, which: str = "latest") -> bool:
        return bool(self._manager(which).checkpoints)

    def save(self, which: str = "latest") -> str:
        """Write a checkpoint; SIGINT/SIGTERM wait until it is complete."""
        with deferred_interrupts():
            path = self._manager(which).save(checkpoint_number=self.next_number)
            self.next_number += 1
            return path

    def save_best(self, same_as: str | None = None) -> str:
        """Write the best checkpoint. ``same_as``: the path of a checkpoint saved since the model last changed (the
        newest one, written in the same epoch): its files are hard-linked into ``best/`` instead of serialized again
        (a save of the sunspots run costs 20-25 ms, mostly TensorFlow's per-variable Python work; a link costs
        microseconds). Falls back to a normal save where links are impossible. Interrupts wait until it is done."""
        if same_as is None:
            return self.save("best")
        with deferred_interrupts():
            try:
                return self._link_best(same_as)
            except OSError:
                return self.save("best")

    def _link_best(self, source: str) -> str:
        """Link ``source``'s files into ``best/``, point best's state file at them (an atomic write), then remove
        the previous best: a crash at any point leaves one complete best checkpoint."""
        import tensorflow as tf

        best_dir = self.directory / "best"
        best_dir.mkdir(parents=True, exist_ok=True)
        prefix = str(best_dir / Path(source).name)
        for path in _checkpoint_files(source):
            linking = best_dir / (path.name + ".linking")
            linking.unlink(missing_ok=True)
            os.link(path, linking)
            os.replace(linking, best_dir / path.name)
        # the state file the manager reads back (timestamps after `last_preserved`, or it forgets the checkpoint)
        now = time.time()
        tf.compat.v1.train.update_checkpoint_state(str(best_dir), prefix, all_model_checkpoint_paths=[prefix],
                                                   all_model_checkpoint_timestamps=[now],
                                                   last_preserved_timestamp=now - 1.0)
        for path in best_dir.glob("ckpt-*"):
            if not path.name.startswith(Path(source).name + "."):
                path.unlink(missing_ok=True)
        self.best = tf.train.CheckpointManager(self.checkpoint, str(best_dir), max_to_keep=1)
        return prefix

    def restore(self, which: str = "latest") -> tuple[str, list[str]]:
        """Restore the newest intact checkpoint of ``which``; returns (path, notes about skipped corrupt ones)."""
        manager = self._manager(which)
        notes: list[str] = []
        candidates = list(reversed(manager.checkpoints))
        if not candidates:
            raise UserInputError(f"{manager.directory}: no checkpoint found (has the run finished an epoch?)")
        for path in candidates:
            try:
                status = self.essential.restore(path)
                status.assert_existing_objects_matched()
                status.expect_partial()  # the loop state is restored next, from the same file
                self.counters.restore(path).expect_partial()
                return path, notes
            except Exception as exc:  # a damaged file fails in many ways (OpError, IndexError, ValueError, ...)
                reason = str(exc).splitlines()[0][:200]
                notes.append(f"checkpoint {path} is unreadable ({reason}); falling back to an older one")
        raise RunError(f"{manager.directory}: every checkpoint is unreadable: " + "; ".join(notes))

    def _manager(self, which: str) -> Any:
        if which not in WHICH:
            raise UserInputError(f"--checkpoint must be `latest` or `best`, got {which!r}")
        return self.latest if which == "latest" else self.best


def _checkpoint_files(prefix: str) -> list[Path]:
    """The files of the checkpoint ``prefix`` (``ckpt-N.index`` and its data shards)."""
    path = Path(prefix)
    return sorted(path.parent.glob(path.name + ".*"))


def _number_of(index_file: Path) -> int:
    """N of ``ckpt-N.index`` (0 for a name that is not one)."""
    number = index_file.name[len("ckpt-"):-len(".index")]
    return int(number) if number.isdigit() else 0
