"""``training.restore_best_weights``: when training ends, the model becomes the best epoch's again.

The best epoch's model is already on disk (``checkpoints/best/``, written by ``Checkpointing`` whenever
``BestTracker`` marks an epoch), so nothing is copied during training and a resumed run restores the right epoch
too. At the end the model (weights, and the states of stateful layers as they were after that epoch) is read back
from it and saved as the newest checkpoint, which ``predict``, ``evaluate`` and ``export`` use; the optimizer,
random streams and counters stay those of the last epoch, so a later ``--resume`` continues training from the best
weights, as calling Keras' ``fit`` again after ``EarlyStopping(restore_best_weights=True)`` would.
"""

from __future__ import annotations

from typing import Any

import tensorflow as tf

from rnncli.training.hooks import BestTracker, Hook


class RestoreBestWeights(Hook):
    """Restores the best epoch's model in ``on_train_end``; ``restored`` then says which epoch (for run.json)."""

    def __init__(self, checkpoints: Any, tracker: BestTracker):
        self.checkpoints, self.tracker = checkpoints, tracker
        self.restored: dict | None = None

    def on_train_end(self, rows: list[dict]) -> None:
        best_epoch = int(self.tracker.best_epoch.numpy())
        path = self.checkpoints.newest("best")
        if best_epoch == 0 or path is None:
            return
        last_epoch = int(self.engine.loop.epoch.numpy())
        if best_epoch != last_epoch:
            status = tf.train.Checkpoint(model=self.engine.model).read(path)
            status.assert_existing_objects_matched()
            status.expect_partial()  # the optimizer, RNG and counters of the last epoch stay
            self.checkpoints.save("latest")
        monitor = self.tracker.monitor
        self.restored = {"epoch": best_epoch, "last_epoch": last_epoch, "value": float(self.tracker.best.numpy()),
                         "monitor": monitor if any(monitor in row for row in rows) else "loss"}
