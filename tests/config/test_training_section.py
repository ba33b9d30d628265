"""The training section: monitors, optimizers, defaults from the declarations."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError


def test_monitor_names_are_checked(regression: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not report `val_los` \(did you mean `val_loss`\?\)"):
        load_config(regression, overrides=["training.callbacks={early_stopping: {monitor: val_los}}"])
    with pytest.raises(ConfigError, match=r"`val_loss` needs validation data"):
        load_config(regression, overrides=["data.validation=null",
                                           "training.checkpoint={monitor: val_loss}"])


def test_set_on_a_string_optimizer(regression: Path) -> None:
    config = load_config(regression, overrides=["training.optimizer=adam", "training.optimizer.lr=0.5"])
    assert config.training["optimizer"]["name"] == "adam" and config.training["optimizer"]["lr"] == 0.5
