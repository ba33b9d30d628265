"""Resuming a run: what a forced resume changes, what it refuses, the resume hint, a run already complete."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_forced_resume_trains_with_the_new_learning_rate(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    resumed = invoke("train", str(regression), "-o", str(run), "--resume", "--force", "--epochs", "2",
                     "--set", "training.optimizer.lr=0.001")
    assert resumed.exit_code == 0, resumed.output
    assert "learning rate set to 0.001" in resumed.output
    rows = RunStore(run).read_history()
    assert rows[0]["lr"] == pytest.approx(0.01) and rows[1]["lr"] == pytest.approx(0.001)
    resolved = yaml.safe_load((run / "config.resolved.yaml").read_text())
    assert resolved["training"]["optimizer"]["lr"] == 0.001  # the record agrees with what ran
    assert "training.optimizer.lr=0.001" in json.loads((run / "run.json").read_text())["overrides"]


def test_resume_refuses_what_a_checkpoint_cannot_take(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    for change in ("model.layers.0.output_dim=4", "training.optimizer.name=sgd", "seed=8"):
        refused = invoke("train", str(regression), "-o", str(run), "--resume", "--force", "--epochs", "2",
                         "--set", change)
        assert refused.exit_code == 2, (change, refused.output)
        assert "cannot change" in refused.output and "Traceback" not in refused.output
    assert json.loads((run / "run.json").read_text())["status"] == "finished"
    assert [row["epoch"] for row in RunStore(run).read_history()] == [1]


def test_resuming_a_complete_run_says_so(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "2").exit_code == 0
    again = invoke("train", str(regression), "-o", str(run), "--resume", "--epochs", "2")
    assert again.exit_code == 2
    assert "already completed 2 epochs" in again.output and "--epochs N with N > 2" in again.output
    assert json.loads((run / "run.json").read_text())["status"] == "finished"


def test_interrupt_hint_repeats_the_options_and_needs_a_checkpoint(regression: Path, tmp_path: Path,
                                                                  monkeypatch: pytest.MonkeyPatch) -> None:
    def interrupted(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr("rnncli.commands.train.train", interrupted)
    run = tmp_path / "run"
    args = ["train", str(regression), "-o", str(run), "--epochs", "3000", "--set", "training.optimizer.lr=0.5",
            "--batch-size", "8"]
    early = invoke(*args)
    assert early.exit_code == 130
    assert "nothing to resume" in early.output and "--resume" not in early.output
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "checkpoint").write_text('model_checkpoint_path: "ckpt-1"\n')
    later = invoke(*args)
    assert later.exit_code == 130
    assert (f"rnncli train {regression} -o {run} --resume --epochs 3000 --batch-size 8 "
            f"--set training.optimizer.lr=0.5") in later.output


def test_best_checkpoint_everywhere(regression: Path, tmp_path: Path) -> None:
    import numpy as np
    import tensorflow as tf

    run = tmp_path / "run"
    trained = invoke("train", str(regression), "-o", str(run), "--epochs", "5", "--set", "training.optimizer.lr=0.05")
    assert trained.exit_code == 0, trained.output
    rows = RunStore(run).read_history()
    best_row = min(rows, key=lambda row: row["val_loss"])
    best = json.loads((run / "run.json").read_text())["best"]
    assert best == {"epoch": best_row["epoch"], "monitor": "val_loss", "value": pytest.approx(best_row["val_loss"])}
    assert f"best epoch: {best_row['epoch']}" in trained.output
    assert f"best epoch: {best_row['epoch']}" in invoke("history", str(run)).output
    evaluated = invoke("evaluate", str(run), "--checkpoint", "best", "--json")
    assert evaluated.exit_code == 0, evaluated.output
    assert json.loads(evaluated.output)["loss"] == pytest.approx(best_row["val_loss"], rel=1e-5)
    latest = json.loads(invoke("evaluate", str(run), "--json").output)
    assert latest["loss"] == pytest.approx(rows[-1]["val_loss"], rel=1e-5)
    exported = tmp_path / "best_model"
    assert invoke("export", str(run), "--checkpoint", "best", "-o", str(exported)).exit_code == 0
    x = np.load(tmp_path / "val.npz")["x"]
    np.save(tmp_path / "x.npy", x)
    assert invoke("predict", str(run), "--input", str(tmp_path / "x.npy"), "--checkpoint", "best",
                  "--output", str(tmp_path / "y.npy")).exit_code == 0
    y = tf.saved_model.load(str(exported)).signatures["predict"](x=tf.constant(x))["y"].numpy()
    np.testing.assert_allclose(y, np.load(tmp_path / "y.npy"), rtol=1e-5, atol=1e-6)
    plotted = invoke("plot", str(run), "-o", str(tmp_path / "curves.png"))
    assert plotted.exit_code == 0, plotted.output


def test_forced_resume_restarts_what_watches_a_new_quantity(regression: Path) -> None:
    from rnncli.commands.train import apply_resume_changes
    from rnncli.config.validate import load_config
    from rnncli.training.hooks import BestTracker, EarlyStopping, HookList, training_hooks
    from rnncli.training.loop import Engine

    watch = "training.callbacks={early_stopping: {monitor: loss, patience: 3}}"
    old = load_config(regression, require_training=True, overrides=[watch])
    new = load_config(regression, require_training=True, overrides=[
        watch.replace("loss", "val_loss"), "training.checkpoint={monitor: val_loss, mode: max}",
        "training.optimizer.lr=0.002"])
    engine = Engine(new)
    hooks = HookList(training_hooks(new.training))
    hooks.bind(engine)
    for name, value in (("stop_best", 0.5), ("stop_wait", 2), ("best", 0.25), ("best_epoch", 4)):
        hooks.state()[name].assign(value)
    engine.optimizer.lr.assign(0.005)  # as a plateau reduction would have left it
    notes = apply_resume_changes(engine, hooks, old.resolved(), new.resolved())
    assert float(engine.optimizer.lr.numpy()) == pytest.approx(0.002) and "learning rate set to 0.002" in notes[0]
    assert np.isnan(float(hooks.find(BestTracker).best)) and int(hooks.find(BestTracker).best_epoch) == 0
    assert np.isnan(float(hooks.find(EarlyStopping).best)) and int(hooks.find(EarlyStopping).wait) == 0
    same = apply_resume_changes(engine, hooks, new.resolved(), new.resolved())
    assert same == [] and float(engine.optimizer.lr.numpy()) == pytest.approx(0.002)


def test_a_run_from_an_older_rnncli_resumes_when_new_keys_are_at_their_defaults() -> None:
    """An older rnncli's config.resolved.yaml lacks keys added since; at their defaults they are no change."""
    from rnncli.commands.train import config_difference

    new = {"seed": 1, "model": {"layers": []}, "data": {"train": "x.npz", "sample_weight": None},
           "training": {"loss": "mse", "nb_epoch": 3, "class_weight": None, "restore_best_weights": False}}
    old = {"seed": 1, "model": {"layers": []}, "data": {"train": "x.npz"},
           "training": {"loss": "mse", "nb_epoch": 2}}
    assert config_difference(old, new) == ""
    changed = {**new, "training": {**new["training"], "class_weight": {0: 1.0, 1: 3.0}}}
    assert "class_weight" in config_difference(old, changed)
    assert "loss" in config_difference(old, {**new, "training": {**new["training"], "loss": "mae"}})
