"""Epoch hooks: Keras 1 callback arithmetic, the hook list's interface, and state that survives a resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from rnncli.config.validate import load_config
from rnncli.training.hooks import EpochEnd, HookList, ReduceLROnPlateau, training_hooks
from rnncli.training.loop import Engine


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
