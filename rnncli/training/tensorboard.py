"""TensorBoard event files for every run, written by an epoch hook with ``tf.summary``.

Layout (Keras' ``TensorBoard`` callback's, so ``tensorboard --logdir runs/`` shows every run side by side)::

    RUN/logs/            the resolved config (text, tag ``config``) and the HParams plugin's session
    RUN/logs/train/      epoch_loss, epoch_<metric>, epoch_learning_rate (step: epoch, 1-based);
                         batch_loss every ``training.log_every_n_batches`` batches (step: batch since the run
                         started, 1-based; the running mean of the epoch so far, as Keras logs it);
                         with ``training.log_histograms``: weights/<variable> and states/<layer>/<h|c>_norm
                         (the per-sample L2 norms of each state of a stateful layer) after each epoch
    RUN/logs/validation/ epoch_loss, epoch_<metric> of the validation data

A resumed run appends a new event file to each folder and continues the same step numbering. Before it does,
events of the interrupted attempt that lie beyond the restored checkpoint (epochs after it, batches of the
unfinished epoch) are removed from the older files, so each step holds one value; the config text and the
hparams session are rewritten by every attempt.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import tensorflow as tf
import yaml

from rnncli.training.hooks import EpochEnd, Hook

ATTEMPT_TAGS = ("config", "_hparams_/session_start_info")  # rewritten by every attempt
EVENT_PATTERN = "events.out.tfevents.*"


def flat_hparams(resolved: dict, prefix: str = "") -> dict[str, bool | int | float | str]:
    """The resolved config as HParams values: dotted keys, lists as text, nulls left out.

    >>> flat_hparams({"seed": 1, "training": {"optimizer": {"name": "adam", "lr": 0.1}, "devices": []}})
    {'seed': 1, 'training.optimizer.name': 'adam', 'training.optimizer.lr': 0.1, 'training.devices': '[]'}
    """
    flat: dict[str, bool | int | float | str] = {}
    for key, value in resolved.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict):
            flat.update(flat_hparams(value, f"{name}."))
        elif isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            for index, item in enumerate(value):
                flat.update(flat_hparams(item, f"{name}.{index}."))
        elif isinstance(value, (bool, int, float, str)):
            flat[name] = value
        elif value is not None:
            flat[name] = yaml.safe_dump(value, default_flow_style=True).strip()
    return flat


def prune_events(directory: Path, epoch_limit: int, batch_limit: int) -> int:
    """Drop from ``directory``'s event files what a resumed attempt writes again: epoch-level events with a step
    above ``epoch_limit``, ``batch_*`` events above ``batch_limit``, and the per-attempt tags. A file truncated by
    a crash keeps its intact records. Returns the number of events removed."""
    from tensorboard.compat.proto.event_pb2 import Event

    removed = 0
    for path in sorted(directory.glob(EVENT_PATTERN)):
        records: list[bytes] = []
        try:
            for record in tf.data.TFRecordDataset(str(path)):
                records.append(record.numpy())
        except tf.errors.DataLossError:
            pass  # the tail of a file cut by a crash; the records before it are intact
        kept = [r for r in records if _keep(Event.FromString(r), epoch_limit, batch_limit)]
        if len(kept) == len(records) and path.stat().st_size > 0:
            continue
        removed += len(records) - len(kept)
        scratch = path.with_name(f".pruning-{path.name.replace('tfevents', 'tmp')}")
        try:
            with tf.io.TFRecordWriter(str(scratch)) as writer:
                for record in kept:
                    writer.write(record)
            os.replace(scratch, path)
        except BaseException:  # a full disk: the old file stays whole, no scratch file is left
            scratch.unlink(missing_ok=True)
            raise
    return removed


def _keep(event: Any, epoch_limit: int, batch_limit: int) -> bool:
    if not event.HasField("summary"):
        return True
    for value in event.summary.value:
        if value.tag in ATTEMPT_TAGS:
            return False
        limit = batch_limit if value.tag.startswith("batch_") else epoch_limit
        if event.step > limit:
            return False
    return True


class TensorBoard(Hook):
    """Writes the run's TensorBoard event files (see the module docstring).

    Args:
      store: the run's ``RunStore`` (events go to ``store.path / "logs"``; the config text and hparams are read
        from its ``config.resolved.yaml`` when training begins).
      every_n_batches: ``training.log_every_n_batches`` (0: epochs only).
      histograms: ``training.log_histograms``.
    """

    def __init__(self, store: Any, every_n_batches: int = 0, histograms: bool = False):
        self.store = store
        self.logdir = Path(store.path) / "logs"
        self.every_n_batches = every_n_batches
        self.histograms = histograms
        self.writers: dict[str, Any] = {}
        self.start_epoch = 0
        self.batches_per_epoch = 0

    def on_train_begin(self, info: dict) -> None:
        self.start_epoch = int(info.get("start_epoch", 0))

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        self.batches_per_epoch = batches
        if not self.writers:
            self._open()

    def _open(self) -> None:
        from tensorboard.plugins.hparams import summary_v2 as hp  # not `api`: it imports tf.keras

        for name in ("", "train", "validation"):
            folder = self.logdir / name
            if folder.exists():
                prune_events(folder, self.start_epoch, self.start_epoch * self.batches_per_epoch)
            self.writers[name] = tf.summary.create_file_writer(str(folder))
        resolved = self.store.read_resolved()
        text = yaml.safe_dump(resolved, sort_keys=False)
        with self.writers[""].as_default():
            # four spaces: TensorBoard renders text as Markdown, and this keeps the YAML a code block
            tf.summary.text("config", "\n".join("    " + line for line in text.splitlines()),
                            step=self.start_epoch)
            hp.hparams(flat_hparams(resolved), trial_id=str(self.store.path))
        self.writers[""].flush()

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        if self.every_n_batches and (batch + 1) % self.every_n_batches == 0:
            step = (epoch - 1) * self.batches_per_epoch + batch + 1
            with self.writers["train"].as_default():
                tf.summary.scalar("batch_loss", logs["loss"], step=step)

    def on_epoch_end(self, end: EpochEnd) -> None:
        train, validation = self.writers["train"], self.writers["validation"]
        with train.as_default():
            for key, value in end.logs.items():
                if key == "lr":
                    tf.summary.scalar("epoch_learning_rate", value, step=end.epoch)
                elif not key.startswith("val_") and key != "seconds":
                    tf.summary.scalar(f"epoch_{key}", value, step=end.epoch)
            if self.histograms:
                self._histograms(end.epoch)
        with validation.as_default():
            for key, value in end.logs.items():
                if key.startswith("val_"):
                    tf.summary.scalar(f"epoch_{key[4:]}", value, step=end.epoch)
        for writer in self.writers.values():
            writer.flush()

    def _histograms(self, epoch: int) -> None:
        model = self.engine.model
        for key, variable in self.engine.variables.items():
            tf.summary.histogram(f"weights/{key}", variable, step=epoch)
        for core in model.stateful_cores():
            labels = ["h", "c"] if len(core.state_variables) == 2 else ["h"]
            for label, variable in zip(labels, core.state_variables):
                tf.summary.histogram(f"states/{core.layer_name}/{label}_norm", tf.norm(variable, axis=-1),
                                     step=epoch)

    def on_train_end(self, rows: list[dict]) -> None:
        for writer in self.writers.values():
            writer.close()
        self.writers = {}
