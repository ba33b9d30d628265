"""Regressions found in review: callbacks as Keras 1, signals during saves, runs that outlive their data."""

from __future__ import annotations

import os
import shutil
import signal
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli import main
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError
from rnncli.training.loop import Engine
from rnncli.workflows import deferred_interrupts


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


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
    engine = Engine(config)
    losses = [5, 4, 4, 4, 4, 4, 4, 3, 3, 3, 3, 3]
    reduced = []
    for epoch, loss in enumerate(losses, start=1):
        _, messages = engine.apply_callbacks({"loss": float(loss)})
        if messages:
            reduced.append(epoch)
    assert reduced == keras1_plateau(losses, patience, cooldown)


def test_interrupt_during_a_save_waits_for_the_block() -> None:
    finished = []
    with pytest.raises(KeyboardInterrupt):
        with deferred_interrupts():
            os.kill(os.getpid(), signal.SIGINT)
            finished.append(True)  # still runs: the signal is held until the block ends
    assert finished == [True]


def test_monitor_names_are_checked(regression: Path) -> None:
    with pytest.raises(ConfigError, match=r"does not report `val_los` \(did you mean `val_loss`\?\)"):
        load_config(regression, overrides=["training.callbacks={early_stopping: {monitor: val_los}}"])
    with pytest.raises(ConfigError, match=r"`val_loss` needs validation data"):
        load_config(regression, overrides=["data.validation=null",
                                           "training.checkpoint={monitor: val_loss}"])


def test_set_on_a_string_optimizer(regression: Path) -> None:
    config = load_config(regression, overrides=["training.optimizer=adam", "training.optimizer.lr=0.5"])
    assert config.training["optimizer"]["name"] == "adam" and config.training["optimizer"]["lr"] == 0.5


def test_run_outlives_its_data_and_bad_outputs_do_not_move_states(stateful: Path, regression: Path,
                                                                 tmp_path: Path) -> None:
    run = tmp_path / "srun"
    assert invoke("train", str(stateful), "-o", str(run), "--epochs", "1").exit_code == 0
    x = np.load(tmp_path / "x.npy")
    np.save(tmp_path / "in.npy", x[:4])
    shutil.move(tmp_path / "stream.npz", tmp_path / "moved.npz")  # the training data is gone
    shown = invoke("states", str(run))
    assert shown.exit_code == 0, shown.output
    steps_before = shown.output
    bad = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.txt"))
    assert bad.exit_code == 2 and ".npy or .csv" in bad.output
    not_a_folder = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "-o",
                          str(tmp_path / "in.npy" / "o.npy"))
    assert not_a_folder.exit_code == 2 and "is not a folder" in not_a_folder.output
    assert invoke("states", str(run)).output == steps_before
    best = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "--checkpoint", "best")
    assert best.exit_code == 0 and "states not saved" in best.output
    assert invoke("states", str(run)).output == steps_before
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "keep.txt").write_text("x")
    refused = invoke("export", str(run), "-o", str(exported))
    assert refused.exit_code == 2 and "--force" in refused.output


def test_checkpoint_every_n_epochs(regression: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    run = tmp_path / "every"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "3",
                    "--set", "training.checkpoint={every_n_epochs: 2, keep: 5}")
    assert result.exit_code == 0, result.output
    saved = sorted(int(tf.train.load_checkpoint(str(p.with_suffix(""))).get_tensor(
        "loop/epoch/.ATTRIBUTES/VARIABLE_VALUE")) for p in (run / "checkpoints").glob("ckpt-*.index"))
    assert saved == [2, 3]
    assert [r["epoch"] for r in __import__("rnncli.run_dir").run_dir.RunDir(run).read_history()] == [1, 2, 3]


def test_text_vocabulary_option(tmp_path: Path) -> None:
    from rnncli.data import load_text_windows
    from rnncli.errors import DataError

    (tmp_path / "t.txt").write_text("abcabcabd")
    data = load_text_windows(tmp_path / "t.txt", 3, 1, False, "dcbaxyz")
    assert data.vocab == "dcbaxyz" and data.x.shape == (6, 3, 7) and data.y[0].argmax() == "dcbaxyz".index("a")
    with pytest.raises(DataError, match="not in the model's vocabulary"):
        load_text_windows(tmp_path / "t.txt", 3, 1, False, "abc")


def test_engine_loss_is_keras1_masked_objective(regression: Path) -> None:
    """The engine's sum/count form equals Keras 1 `weighted_objective` (loss *= mask / mean(mask)), and padding
    rows (weight 0) leave the value of the real rows unchanged."""
    import tensorflow as tf

    from rnncli.training.losses import weighted_loss

    engine = Engine(load_config(regression, require_training=True))
    rng = np.random.default_rng(0)
    y, y_pred = (tf.constant(rng.normal(size=(4, 6, 3)), tf.float32) for _ in range(2))
    mask = tf.constant(rng.random((4, 6)) > 0.3)
    loss_sum, count, _ = engine._sums(y, y_pred, mask, tf.ones(4))
    expected = weighted_loss("mse", y, y_pred, mask).numpy()
    assert float(loss_sum / count) == pytest.approx(float(expected), rel=1e-6)
    padded = [tf.concat([t, tf.zeros_like(t[:2])], 0) for t in (y, y_pred)]
    padded_mask = tf.concat([mask, tf.ones_like(mask[:2])], 0)
    loss_sum, count, _ = engine._sums(*padded, padded_mask, tf.constant([1.0, 1, 1, 1, 0, 0]))
    assert float(loss_sum / count) == pytest.approx(float(expected), rel=1e-6)
