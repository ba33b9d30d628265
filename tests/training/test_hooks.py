"""Epoch hooks: Keras 1 callback arithmetic, the hook list's interface, and state that survives a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf

from rnncli.config.validate import load_config
from rnncli.data.dataset import Dataset
from rnncli.errors import TrainingDiverged
from rnncli.runs.checkpoints import Checkpoints
from rnncli.training.hooks import (
    BestTracker,
    EarlyStopping,
    EpochEnd,
    History,
    Hook,
    HookList,
    ReduceLROnPlateau,
    TerminateOnNaN,
    training_hooks,
)
from rnncli.training.loop import Engine, fit


def keras1_plateau(losses: list[float], patience: int, cooldown: int, factor: float = 0.5) -> list[int]:
    """Keras 1.2.2 ReduceLROnPlateau.on_epoch_end, transcribed; returns the epochs (1-based) that reduce."""
    best, wait, cooldown_counter, lr, reduced = np.inf, 0, 0, 1.0, []
    for epoch, current in enumerate(losses, start=1):
        if cooldown_counter > 0:
            cooldown_counter -= 1
            wait = 0
        if current < best - 1e-4:
            best, wait = current, 0
        elif not cooldown_counter > 0:
            if wait >= patience:
                if lr > 0:
                    lr *= factor
                    reduced.append(epoch)
                    cooldown_counter, wait = cooldown, 0
            wait += 1
    return reduced


@pytest.mark.parametrize("patience,cooldown", [(0, 0), (1, 0), (2, 0), (2, 1), (1, 3)])
def test_reduce_lr_on_plateau_follows_keras1(regression: Path, patience: int, cooldown: int) -> None:
    config = load_config(regression, require_training=True, overrides=[
        f"training.callbacks={{reduce_lr_on_plateau: {{monitor: loss, factor: 0.5, patience: {patience}, "
        f"cooldown: {cooldown}}}}}"])
    hooks = HookList(training_hooks(config.training))
    hooks.bind(Engine(config))
    plateau = hooks.find(ReduceLROnPlateau)
    losses = [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3]
    reduced = []
    for epoch, loss in enumerate(losses, start=1):
        end = EpochEnd(epoch, len(losses), {"loss": float(loss)})
        plateau.on_epoch_end(end)
        if end.messages:
            reduced.append(epoch)
    assert reduced == keras1_plateau(losses, patience, cooldown)


def keras1_early_stopping(values: list[float], patience: int, min_delta: float = 0.0) -> int | None:
    """Keras 1.2.2 EarlyStopping.on_epoch_end (mode min), transcribed; returns the epoch that stops, or None.
    In mode min Keras 1 negates ``min_delta`` in ``__init__`` and tests ``np.less(current - min_delta, best)``."""
    best, wait = np.inf, 0
    min_delta = -min_delta
    for epoch, current in enumerate(values, start=1):
        if current - min_delta < best:
            best, wait = current, 0
        else:
            if wait >= patience:
                return epoch
            wait += 1
    return None


@pytest.mark.parametrize("patience", [0, 1, 3])
def test_early_stopping_follows_keras1(regression: Path, patience: int) -> None:
    config = load_config(regression, require_training=True, overrides=[
        f"training.callbacks={{early_stopping: {{monitor: loss, patience: {patience}, min_delta: 0.01}}}}"])
    hooks = HookList(training_hooks(config.training))
    hooks.bind(Engine(config))
    values = [5.0, 4.0, 3.995, 3.99, 4.5, 3.0, 3.0, 3.0, 3.0, 3.0]
    stopped = None
    for epoch, value in enumerate(values, start=1):
        end = EpochEnd(epoch, len(values), {"loss": value})
        hooks.find(EarlyStopping).on_epoch_end(end)
        if end.stop:
            stopped = epoch
            assert end.messages and "early stopping" in end.messages[0]
            break
    assert stopped == keras1_early_stopping(values, patience, 0.01)


class Recorder(Hook):
    """Writes down every call it gets."""

    def __init__(self, name: str, calls: list):
        self.name, self.calls = name, calls

    def on_train_begin(self, info: dict) -> None:
        self.calls.append((self.name, "train_begin", info["start_epoch"], info["epochs"]))

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        self.calls.append((self.name, "epoch_begin", epoch, batches))

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        self.calls.append((self.name, "batch_end", epoch, batch))

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.calls.append((self.name, "epoch_end", end.epoch, end.best is not None))

    def on_train_end(self, rows: list[dict]) -> None:
        self.calls.append((self.name, "train_end", len(rows), None))


class HalvingSchedule(Hook):
    """A learning-rate schedule written as a hook: lr = 0.01 / 2^(epoch - 1), set before each epoch."""

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        self.engine.optimizer.lr.assign(0.01 / 2 ** (epoch - 1))


def test_fit_drives_every_hook_in_order_and_new_hooks_plug_in(regression: Path) -> None:
    config = load_config(regression, require_training=True, overrides=["data.validation=null"])
    engine = Engine(config)
    calls: list = []
    hooks = HookList([*training_hooks(config.training), Recorder("a", calls), HalvingSchedule(),
                      Recorder("b", calls)])
    hooks.bind(engine)
    data = Dataset(*[np.load(regression.parent / "train.npz")[k][:32] for k in ("x", "y")], "train")
    rows = fit(engine, data, None, 2, hooks)
    assert [row["epoch"] for row in rows] == [1, 2] == [row["epoch"] for row in hooks.find(History).rows]
    assert [row["lr"] for row in rows] == pytest.approx([0.01, 0.005])
    expected = [("train_begin", 0, 2)]
    for epoch in (1, 2):
        expected += [("epoch_begin", epoch, 2), ("batch_end", epoch, 0), ("batch_end", epoch, 1),
                     ("epoch_end", epoch, epoch == 1 or rows[1]["loss"] < rows[0]["loss"])]
    expected.append(("train_end", 2, None))
    for name in ("a", "b"):
        assert [call[1:] for call in calls if call[0] == name] == expected
    # a and b alternate: every event reaches the whole list before the next event starts
    assert [call[0] for call in calls] == ["a", "b"] * len(expected)
    assert int(engine.loop.best_epoch) == (2 if rows[1]["loss"] < rows[0]["loss"] else 1)


def test_terminate_on_nan_names_the_batch() -> None:
    with pytest.raises(TrainingDiverged, match=r"the loss became nan at epoch 3, batch 5.*clipnorm"):
        TerminateOnNaN().on_batch_end(3, 4, {"loss": float("nan")})
    TerminateOnNaN().on_batch_end(3, 4, {"loss": 1e30})


def test_best_tracker_uses_loss_without_the_monitored_value() -> None:
    tracker = BestTracker("val_acc", "auto")
    seen = []
    for epoch, logs in enumerate([{"loss": 2.0}, {"loss": 3.0}, {"loss": 1.0}], start=1):
        end = EpochEnd(epoch, 3, logs)
        tracker.on_epoch_end(end)
        seen.append(end.best)
    assert seen == [{"epoch": 1, "monitor": "loss", "value": 2.0}, None,
                    {"epoch": 3, "monitor": "loss", "value": 1.0}]
    accuracy = BestTracker("val_acc", "auto")  # auto mode: accuracies go up
    for epoch, value in enumerate([0.5, 0.4, 0.7], start=1):
        accuracy.on_epoch_end(EpochEnd(epoch, 3, {"loss": 1.0, "val_acc": value}))
    assert float(accuracy.best) == 0.7 and int(accuracy.best_epoch) == 3


def test_state_names_must_be_unique(regression: Path) -> None:
    engine = Engine(load_config(regression, require_training=True))
    with pytest.raises(ValueError, match="`history_json` is already taken"):
        HookList([History(), History()]).bind(engine)
    with pytest.raises(ValueError, match="`epoch` is already taken"):
        HookList([Named("epoch")]).bind(Engine(load_config(regression, require_training=True)))


class Named(Hook):
    def __init__(self, name: str):
        self.variable = tf.Variable(0, dtype=tf.int64)
        self.name = name

    def state(self) -> dict:
        return {self.name: self.variable}


def test_hook_state_travels_in_the_checkpoint(regression: Path, tmp_path: Path) -> None:
    overrides = ["training.callbacks={early_stopping: {monitor: loss, patience: 5}, "
                 "reduce_lr_on_plateau: {monitor: loss, patience: 0}}"]
    config = load_config(regression, require_training=True, overrides=overrides)

    def restored_engine():
        engine = Engine(config)
        hooks = HookList(training_hooks(config.training))
        hooks.bind(engine)
        return engine, hooks, Checkpoints(engine.trackables(), tmp_path / "checkpoints")

    engine, hooks, checkpoints = restored_engine()
    for epoch, loss in enumerate([3.0, 2.0, 2.5, 2.7], start=1):
        engine.loop.epoch.assign(epoch)
        hooks.on_epoch_end(EpochEnd(epoch, 10, {"loss": loss, "lr": 0.01}))
    saved = {name: variable.numpy() for name, variable in hooks.state().items()}
    assert saved["stop_wait"] == 2 and saved["lr_cooldown"] == 0 and saved["best_epoch"] == 2
    checkpoints.save("latest")
    fresh, fresh_hooks, fresh_checkpoints = restored_engine()
    assert fresh_hooks.state()["stop_wait"].numpy() == 0
    fresh_checkpoints.restore("latest")
    for name, value in saved.items():
        np.testing.assert_array_equal(fresh_hooks.state()[name].numpy(), value, err_msg=name)
    assert float(fresh.optimizer.lr.numpy()) == float(engine.optimizer.lr.numpy()) < 0.01
    assert [row["loss"] for row in fresh_hooks.find(History).rows] == [3.0, 2.0, 2.5, 2.7]
