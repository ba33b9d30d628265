"""The epoch hook of a tuning trial: reports the tuned metric to the Optuna trial after every epoch and stops a
trial its pruner gives up on (``run.json`` then says ``pruned``)."""

from __future__ import annotations

from typing import Any

from rnncli.training.hooks import EpochEnd, Hook


class ReportToTrial(Hook):
    """``trial.report(logs[metric], epoch)`` after each epoch; ``end.stop`` when ``trial.should_prune()``.

    Epochs the trial already holds (reported before an interrupt, trained again after the resume from an earlier
    checkpoint, with the same values) are not reported twice. ``outcome`` is ``"pruned"`` once the pruner stopped
    the trial, else None.
    """

    def __init__(self, trial: Any, metric: str):
        self.trial, self.metric = trial, metric
        self.reported = set(trial.storage.get_trial(trial._trial_id).intermediate_values)
        self.outcome: str | None = None

    def on_epoch_end(self, end: EpochEnd) -> None:
        value = end.logs.get(self.metric)
        if value is None:
            return
        if end.epoch not in self.reported:
            self.trial.report(float(value), end.epoch)
            self.reported.add(end.epoch)
        if not end.last and self.trial.should_prune():
            end.stop = True
            self.outcome = "pruned"
            end.messages.append(f"pruned: {self.metric} {value:.4g} at epoch {end.epoch} is behind the other trials")
