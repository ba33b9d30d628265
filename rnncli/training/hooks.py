"""Epoch hooks: everything that happens around an epoch, behind one interface (in the spirit of Keras'
``CallbackList``).

The loop (``rnncli.training.loop.fit``) only trains and validates; history, early stopping, the learning-rate
plateau, best tracking, NaN termination, progress, checkpoints and the ``run.json`` record are hooks in one
``HookList``, called in list order.

Adding a hook (TensorBoard, a learning-rate schedule, restore_best_weights, ...)
--------------------------------------------------------------------------------
Subclass ``Hook`` and override what you need; the loop does not change:

- ``bind(engine)`` gives the hook the ``Engine`` (model, optimizer, loop counters) before training starts.
- ``state()`` returns ``{name: tf.Variable}`` that must survive a resume. The variables are checkpointed with
  the loop state as ``loop/<name>`` (names are global: prefix them with the hook's purpose; ``HookList`` refuses
  a clash), so a resumed run continues bit for bit. Create them in ``__init__``.
- ``on_train_begin(info)``, ``on_epoch_begin(epoch, epochs, batches)``, ``on_batch_end(epoch, batch, logs)``
  (running means of the epoch so far), ``on_epoch_end(end)``, ``on_train_end(rows)``.
- In ``on_epoch_end`` read ``end.logs`` (loss, metrics, ``val_*``, ``lr``, ``seconds``); set ``end.stop`` to end
  training after this epoch; append to ``end.messages`` to tell the user; ``end.best`` is set by ``BestTracker``
  when the monitored value improved. Hooks after it in the list see what earlier hooks did.

Then add it where the command builds its list (``rnncli.commands.train.build_hooks``). A learning-rate schedule
assigns ``engine.optimizer.lr`` in ``on_epoch_begin``; restore_best_weights keeps a copy of the weights when
``end.best`` is set and assigns it back in ``on_train_end``.

>>> hooks = HookList([History()])
>>> end = EpochEnd(epoch=1, epochs=2, logs={"loss": 0.5})
>>> hooks.on_epoch_end(end)
>>> hooks.hooks[0].rows
[{'epoch': 1, 'loss': 0.5}]
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from typing import Any, Iterable, Protocol

import numpy as np
import tensorflow as tf

from rnncli.errors import TrainingDiverged
from rnncli.platform.runtime import deferred_interrupts


@dataclass
class EpochEnd:
    """What the hooks see and decide after an epoch."""

    epoch: int                      # 1-based, completed
    epochs: int                     # the target epoch of this run
    logs: dict                      # loss, metrics, val_*, lr, seconds
    messages: list[str] = field(default_factory=list)
    stop: bool = False              # a hook ends training after this epoch
    best: dict | None = None        # {"epoch", "monitor", "value"} when this epoch is the best so far

    @property
    def row(self) -> dict:
        """The history row of this epoch."""
        return {"epoch": self.epoch, **self.logs}

    @property
    def last(self) -> bool:
        """Whether training ends after this epoch."""
        return self.stop or self.epoch >= self.epochs


class Hook:
    """One thing that happens around epochs; every method is a no-op by default."""

    engine: Any = None

    def bind(self, engine: Any) -> None:
        self.engine = engine

    def state(self) -> dict[str, tf.Variable]:
        return {}

    def on_train_begin(self, info: dict) -> None:
        pass

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        pass

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        pass

    def on_epoch_end(self, end: EpochEnd) -> None:
        pass

    def on_train_end(self, rows: list[dict]) -> None:
        pass


class HookList(Hook):
    """Calls every hook in order; ``bind`` also registers each hook's state with the engine's loop state."""

    def __init__(self, hooks: Iterable[Hook] = ()):
        self.hooks = list(hooks)

    def bind(self, engine: Any) -> None:
        loop = engine.loop
        for hook in self.hooks:
            hook.bind(engine)
            for name, variable in hook.state().items():
                if hasattr(loop, name):
                    raise ValueError(f"hook {type(hook).__name__}: state name `{name}` is already taken")
                setattr(loop, name, variable)

    def state(self) -> dict[str, tf.Variable]:
        return {name: v for hook in self.hooks for name, v in hook.state().items()}

    def find(self, kind: type) -> Any:
        """The first hook of type ``kind``, or None."""
        return next((hook for hook in self.hooks if isinstance(hook, kind)), None)

    def on_train_begin(self, info: dict) -> None:
        for hook in self.hooks:
            hook.on_train_begin(info)

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        for hook in self.hooks:
            hook.on_epoch_begin(epoch, epochs, batches)

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        for hook in self.hooks:
            hook.on_batch_end(epoch, batch, logs)

    def on_epoch_end(self, end: EpochEnd) -> None:
        for hook in self.hooks:
            hook.on_epoch_end(end)

    def on_train_end(self, rows: list[dict]) -> None:
        for hook in self.hooks:
            hook.on_train_end(rows)


# -- monitored quantities ------------------------------------------------------------------------------------------

_HIGHER_IS_BETTER = ("precision", "recall", "fbeta_score", "fmeasure")


def monitor_mode(monitor: str, mode: str) -> str:
    """``min`` or ``max`` for ``mode: auto``: Keras 1's rule (``max`` for accuracies), also ``max`` for the
    precision/recall/F metrics."""
    if mode != "auto":
        return mode
    name = monitor[4:] if monitor.startswith("val_") else monitor
    return "max" if "acc" in monitor or name in _HIGHER_IS_BETTER else "min"


def improved(value: float, best: float, mode: str, min_delta: float = 0.0) -> bool:
    if math.isnan(best):
        return True
    return value < best - min_delta if mode == "min" else value > best + min_delta


def _scalar(value: float, dtype: tf.DType, name: str) -> tf.Variable:
    return tf.Variable(value, dtype=dtype, trainable=False, name=name)


# -- the hooks -----------------------------------------------------------------------------------------------------

class TerminateOnNaN(Hook):
    """Stop with ``TrainingDiverged`` as soon as the loss is NaN or Inf; the last good checkpoint stays."""

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        if not np.isfinite(logs["loss"]):
            raise TrainingDiverged(
                f"the loss became {logs['loss']} at epoch {epoch}, batch {batch + 1}; training stopped and the last "
                f"good checkpoint is kept. Try a lower learning rate (`training.optimizer.lr`) or gradient "
                f"clipping (`clipnorm: 1.0`)")


class EarlyStopping(Hook):
    """Keras 1 EarlyStopping: stop when ``monitor`` has not improved for more than ``patience`` epochs."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.best = _scalar(np.nan, tf.float64, "stop_best")
        self.wait = _scalar(0, tf.int64, "stop_wait")

    def state(self) -> dict[str, tf.Variable]:
        return {"stop_best": self.best, "stop_wait": self.wait}

    def forget(self) -> None:
        """Start watching afresh (the monitored quantity changed on a forced resume)."""
        self.best.assign(np.nan)
        self.wait.assign(0)

    def on_epoch_end(self, end: EpochEnd) -> None:
        monitor = self.settings["monitor"]
        if monitor not in end.logs:
            return
        value = end.logs[monitor]
        if improved(value, float(self.best.numpy()), monitor_mode(monitor, self.settings["mode"]),
                    self.settings["min_delta"]):
            self.best.assign(value)
            self.wait.assign(0)
            return
        self.wait.assign_add(1)
        if int(self.wait) > self.settings["patience"]:
            end.stop = True
            end.messages.append(f"early stopping: {monitor} did not improve for {int(self.wait)} epochs")


class ReduceLROnPlateau(Hook):
    """Keras 1.2.2 ReduceLROnPlateau.on_epoch_end, step for step; assigns ``engine.optimizer.lr``."""

    def __init__(self, settings: dict):
        self.settings = settings
        self.best = _scalar(np.nan, tf.float64, "lr_best")
        self.wait = _scalar(0, tf.int64, "lr_wait")
        self.cooldown = _scalar(0, tf.int64, "lr_cooldown")

    def state(self) -> dict[str, tf.Variable]:
        return {"lr_best": self.best, "lr_wait": self.wait, "lr_cooldown": self.cooldown}

    def forget(self) -> None:
        """Start watching afresh (the monitored quantity changed on a forced resume)."""
        self.best.assign(np.nan)
        self.wait.assign(0)
        self.cooldown.assign(0)

    def on_epoch_end(self, end: EpochEnd) -> None:
        plateau = self.settings
        monitor = plateau["monitor"]
        if monitor not in end.logs:
            return
        value = end.logs[monitor]
        if int(self.cooldown) > 0:
            self.cooldown.assign_sub(1)
            self.wait.assign(0)
        if improved(value, float(self.best.numpy()), monitor_mode(monitor, plateau["mode"]), plateau["epsilon"]):
            self.best.assign(value)
            self.wait.assign(0)
        elif not int(self.cooldown) > 0:
            if int(self.wait) >= plateau["patience"]:
                lr = self.engine.optimizer.lr
                old = float(lr.numpy())
                if old > plateau["min_lr"] * (1 + 1e-4):
                    new = max(old * plateau["factor"], plateau["min_lr"])
                    lr.assign(new)
                    end.messages.append(f"reduce_lr_on_plateau: lr {old:.3g} -> {new:.3g}")
                    self.cooldown.assign(plateau["cooldown"])
                    self.wait.assign(0)
            self.wait.assign_add(1)


class BestTracker(Hook):
    """Marks the epochs whose ``monitor`` (``loss`` when the logs lack it) is the best so far: sets ``end.best``."""

    def __init__(self, monitor: str, mode: str):
        self.monitor, self.mode = monitor, mode
        self.best = _scalar(np.nan, tf.float64, "best")
        self.best_epoch = _scalar(0, tf.int64, "best_epoch")

    def state(self) -> dict[str, tf.Variable]:
        return {"best": self.best, "best_epoch": self.best_epoch}

    def forget(self) -> None:
        """Start watching afresh (the monitored quantity changed on a forced resume)."""
        self.best.assign(np.nan)
        self.best_epoch.assign(0)

    def on_epoch_end(self, end: EpochEnd) -> None:
        monitor = self.monitor if self.monitor in end.logs else "loss"
        value = end.logs[monitor]
        if improved(value, float(self.best.numpy()), monitor_mode(monitor, self.mode)):
            self.best.assign(value)
            self.best_epoch.assign(end.epoch)
            end.best = {"epoch": end.epoch, "monitor": monitor, "value": float(value)}


class Reporter(Protocol):
    """Progress display (the CLI's ``rnncli.cli.reporting.ConsoleReporter``)."""

    def train_begin(self, info: dict) -> None: ...
    def epoch_begin(self, epoch: int, epochs: int, batches: int) -> None: ...
    def batch_end(self, batch: int, logs: dict) -> None: ...
    def epoch_end(self, epoch: int, logs: dict) -> None: ...


class Progress(Hook):
    """Forwards the loop's events to a ``Reporter`` (epoch lines carry the other hooks' messages)."""

    def __init__(self, reporter: Reporter):
        self.reporter = reporter

    def on_train_begin(self, info: dict) -> None:
        self.reporter.train_begin(info)

    def on_epoch_begin(self, epoch: int, epochs: int, batches: int) -> None:
        self.reporter.epoch_begin(epoch, epochs, batches)

    def on_batch_end(self, epoch: int, batch: int, logs: dict) -> None:
        self.reporter.batch_end(batch, logs)

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.reporter.epoch_end(end.epoch, {**end.logs, "messages": end.messages})


class History(Hook):
    """The history rows, kept once: in the checkpoint (so ``history.csv`` can always be rebuilt from it)."""

    def __init__(self) -> None:
        self.history_json = tf.Variable("", dtype=tf.string, trainable=False, name="history_json")

    def state(self) -> dict[str, tf.Variable]:
        return {"history_json": self.history_json}

    @property
    def rows(self) -> list[dict]:
        return json.loads(self.history_json.numpy().decode() or "[]")

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.history_json.assign(json.dumps(self.rows + [end.row]))


class Checkpointing(Hook):
    """Writes the newest checkpoint on its cadence (and after the last epoch) followed by ``history.csv``, and the
    best checkpoint whenever ``end.best`` is set. Ctrl-C/SIGTERM wait until all of it is written, so the CSV never
    runs ahead of the newest checkpoint."""

    def __init__(self, checkpoints: Any, store: Any, history: History):
        self.checkpoints, self.store, self.history = checkpoints, store, history

    def on_epoch_end(self, end: EpochEnd) -> None:
        with deferred_interrupts():
            latest = None
            if self.checkpoints.due(end.epoch, end.last):
                latest = self.checkpoints.save("latest")
                self.store.write_history(self.history.rows)
            if end.best is not None:
                self.checkpoints.save_best(same_as=latest)  # the same state: linked, not written again


class RunRecord(Hook):
    """Keeps the ``run.json`` record current: epochs completed and the best epoch (after its checkpoint exists)."""

    def __init__(self, record: dict, store: Any):
        self.record, self.store = record, store

    def on_epoch_end(self, end: EpochEnd) -> None:
        self.record["epochs_completed"] = end.epoch
        if end.best is not None:
            self.record["best"] = end.best
        self.store.write_run_json(self.record)


def training_hooks(training: dict) -> list[Hook]:
    """The hooks a ``training:`` section asks for, in order: NaN termination, early stopping, the learning-rate
    plateau, best tracking and the history. A command that restores a run binds them too (without running them),
    so that saving a checkpoint back keeps their state."""
    callbacks = training["callbacks"] or {}
    hooks: list[Hook] = [TerminateOnNaN()]
    if "early_stopping" in callbacks:
        hooks.append(EarlyStopping(callbacks["early_stopping"]))
    if "reduce_lr_on_plateau" in callbacks:
        hooks.append(ReduceLROnPlateau(callbacks["reduce_lr_on_plateau"]))
    checkpoint = training["checkpoint"]
    hooks += [BestTracker(checkpoint["monitor"], checkpoint["mode"]), History()]
    return hooks
