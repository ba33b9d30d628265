"""A run directory reproduces its run by itself; evaluate takes --y; outputs create their folders."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_config_carries_overrides_and_absolute_paths(regression: Path, tmp_path: Path,
                                                         monkeypatch: pytest.MonkeyPatch) -> None:
    data = np.load(regression.parent / "val.npz")
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    np.save(elsewhere / "features.npy", data["x"])
    np.save(elsewhere / "targets.npy", data["y"])
    monkeypatch.chdir(elsewhere)
    run = tmp_path / "run"
    trained = invoke("train", str(regression), "-o", str(run), "--epochs", "1", "--set", "training.optimizer.lr=0.005",
                     "--set", "data.validation=features.npy", "--set", "data.y_validation=targets.npy")
    assert trained.exit_code == 0, trained.output

    text = (run / "config.yaml").read_text()
    assert "--set training.optimizer.lr=0.005" in text  # the header says where it came from
    document = yaml.safe_load(text)
    assert document["training"]["optimizer"] == {"name": "adam", "lr": 0.005}
    assert document["training"]["nb_epoch"] == 1
    assert document["data"]["train"] == str(regression.parent / "train.npz")
    assert document["data"]["validation"] == str(elsewhere / "features.npy")
    monkeypatch.chdir(tmp_path)  # the run's config alone, from anywhere, is the run's config
    assert load_config(run / "config.yaml").resolved() == yaml.safe_load((run / "config.resolved.yaml").read_text())
    assert invoke("validate", str(run / "config.yaml")).exit_code == 0
    assert invoke("summary", str(run)).exit_code == 0

    evaluated = invoke("evaluate", str(run), "--data", str(elsewhere / "features.npy"), "--y",
                       str(elsewhere / "targets.npy"), "--json", "--device", "cpu")
    assert evaluated.exit_code == 0, evaluated.output
    assert set(json.loads(evaluated.output)) == {"loss", "mean_absolute_error"}
    unguessed = invoke("evaluate", str(run), "--data", str(elsewhere / "features.npy"), "--device", "cpu")
    assert unguessed.exit_code == 2 and "(or --y)" in unguessed.output

    out = tmp_path / "new" / "folder" / "y.npy"
    predicted = invoke("predict", str(run), "--input", str(elsewhere / "features.npy"), "--output", str(out))
    assert predicted.exit_code == 0, predicted.output
    assert np.load(out).shape == (16, 1)
    exported = invoke("export", str(run), "-o", str(tmp_path / "exports" / "nested" / "model"))
    assert exported.exit_code == 0, exported.output
    assert (tmp_path / "exports" / "nested" / "model" / "saved_model.pb").exists()
