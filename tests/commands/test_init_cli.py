"""Data without writing YAML: `rnncli init`, `train --train/--y/--validation`, `validate --resolved`, numbered
run directories."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.section_args import TRAINING_ARGS
from rnncli.config.validate import load_config
from rnncli.runs import RunStore


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_two_arrays_to_a_trained_model_in_two_commands(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    rng = np.random.default_rng(0)
    x = rng.normal(size=(120, 8, 3)).astype(np.float32)
    np.save("x.npy", x)
    np.save("y.npy", (x[:, :, 0].sum(axis=1) > 0).astype(np.int64))

    written = invoke("init", "--x", "x.npy", "--y", "y.npy", "--cell", "LSTM")
    assert written.exit_code == 0, written.output
    assert "rnncli train model.yaml" in written.output
    trained = invoke("train", "model.yaml")
    assert trained.exit_code == 0, trained.output

    run = Path("runs/model/version_0")
    rows = RunStore(run).read_history()
    assert len(rows) == 10 and rows[-1]["loss"] < rows[0]["loss"]
    assert {"acc", "val_acc"} <= set(rows[0])  # sigmoid + binary_crossentropy + accuracy, 10% held out
    # every training without -o gets a new numbered folder; --resume continues the newest
    assert invoke("train", "model.yaml", "--epochs", "1").exit_code == 0
    resumed = invoke("train", "model.yaml", "--resume", "--epochs", "2")
    assert resumed.exit_code == 0, resumed.output
    assert "runs/model/version_1" in resumed.output
    assert sorted(p.name for p in Path("runs/model").iterdir()) == ["version_0", "version_1"]
    assert [r["epoch"] for r in RunStore("runs/model/version_1").read_history()] == [1, 2]
    assert invoke("init", "--x", "x.npy", "--y", "y.npy").exit_code == 2  # model.yaml exists: --force


@pytest.mark.parametrize("case", ["tokens", "onehot", "labels", "sequence", "regression"])
def test_init_chooses_the_model_from_the_data(tmp_path: Path, case: str) -> None:
    rng = np.random.default_rng(1)
    n, t = 40, 5
    if case == "tokens":
        x = rng.integers(1, 7, size=(n, t))
        x[::2, :2] = 0  # left padding (0 only before the ids: mask_zero)
    else:
        x = rng.normal(size=(n, t, 2)).astype(np.float32)
    y = {"tokens": rng.integers(0, 2, size=(n, 1)).astype(np.float32),
         "onehot": np.eye(3, dtype=np.float32)[rng.integers(0, 3, size=n)],
         "labels": rng.integers(0, 4, size=n),
         "sequence": rng.normal(size=(n, t, 2)).astype(np.float32),
         "regression": rng.normal(size=n).astype(np.float32)}[case]
    (tmp_path / "data").mkdir()
    np.save(tmp_path / "data" / "x.npy", x)
    np.save(tmp_path / "data" / "y.npy", y)
    out = tmp_path / "cfg.yaml"
    result = invoke("init", "--x", str(tmp_path / "data" / "x.npy"), "--y", str(tmp_path / "data" / "y.npy"),
                    "--cell", "GRU", "--units", "6", "-o", str(out))
    assert result.exit_code == 0, result.output
    assert "data/x.npy" in out.read_text() and out.read_text().startswith("# Starter config")
    config = load_config(out, require_training=True)
    types = [layer.config["type"] for layer in config.model.layers]
    expected = {"tokens": (["Embedding", "GRU", "Dense"], "binary_crossentropy", (None, 1)),
                "onehot": (["GRU", "Dense"], "categorical_crossentropy", (None, 3)),
                "labels": (["GRU", "Dense"], "sparse_categorical_crossentropy", (None, 4)),
                "sequence": (["GRU", "TimeDistributed"], "mse", (None, 5, 2)),
                "regression": (["GRU", "Dense"], "mse", (None, 1))}[case]
    assert (types, config.training["loss"], tuple(config.model.output_shape)) == expected
    if case == "tokens":
        assert config.model.layers[0].config["mask_zero"] is True and config.model.layers[0].config["input_dim"] == 7


def test_init_refuses_data_it_cannot_model(tmp_path: Path) -> None:
    np.save(tmp_path / "x.npy", np.zeros((10, 4), np.float32))
    np.save(tmp_path / "y.npy", np.zeros(10, np.float32))
    result = invoke("init", "--x", str(tmp_path / "x.npy"), "--y", str(tmp_path / "y.npy"), "-o",
                    str(tmp_path / "c.yaml"))
    assert result.exit_code == 2 and "x[..., None]" in result.output and not (tmp_path / "c.yaml").exists()


def test_data_flags_replace_the_data_section(regression: Path, tmp_path: Path,
                                             monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    train = np.load(tmp_path / "train.npz")
    np.save("xt.npy", train["x"][:40])
    np.save("yt.npy", train["y"][:40])
    np.save("xv.npy", train["x"][40:48])
    np.save("yv.npy", train["y"][40:48])
    result = invoke("train", str(regression), "-o", "run", "--epochs", "1", "--train", "xt.npy", "--y", "yt.npy",
                    "--validation", "xv.npy", "--validation-y", "yv.npy")
    assert result.exit_code == 0, result.output
    assert "40 samples, 8 for validation" in result.output
    data = yaml.safe_load(Path("run/config.resolved.yaml").read_text())["data"]
    assert (data["train"], data["y_train"]) == (str(tmp_path / "xt.npy"), str(tmp_path / "yt.npy"))
    assert (data["validation"], data["y_validation"]) == (str(tmp_path / "xv.npy"), str(tmp_path / "yv.npy"))
    assert any(o.startswith("data.train=") for o in json.loads(Path("run/run.json").read_text())["overrides"])
    lone = invoke("train", str(regression), "-o", "run2", "--y", "yt.npy")
    assert lone.exit_code == 2 and "pass --train" in lone.output and not Path("run2").exists()


def test_validate_resolved_prints_every_default(regression: Path, tmp_path: Path) -> None:
    result = invoke("validate", "--resolved", str(regression))
    assert result.exit_code == 0, result.output
    resolved = yaml.safe_load(result.output)
    assert set(resolved["training"]) == {arg.name for arg in TRAINING_ARGS}
    assert resolved["training"]["optimizer"] == {"name": "adam", "lr": 0.01, "beta_1": 0.9, "beta_2": 0.999,
                                                 "epsilon": 1e-8, "decay": 0.0, "clipnorm": None, "clipvalue": None}
    again = tmp_path / "resolved.yaml"
    again.write_text(result.output)
    assert load_config(again).resolved() == resolved  # the printed config is itself valid, and a fixed point
