"""Stateful runs end to end: states in checkpoints, streaming predict, reset-states keeping everything else."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def checkpoint(run: Path) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and "_CHECKPOINTABLE_OBJECT_GRAPH" not in k}


@pytest.fixture
def trained(stateful: Path, tmp_path: Path) -> Path:
    run = tmp_path / "run"
    result = invoke("train", str(stateful), "-o", str(run))
    assert result.exit_code == 0, result.output
    assert "validation runs on its own zeroed copy" in result.output
    return run


def predict(run: Path, x: np.ndarray, tmp_path: Path, *extra: str) -> np.ndarray:
    np.save(tmp_path / "in.npy", x)
    result = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.npy"),
                    *extra)
    assert result.exit_code == 0, result.output
    return np.load(tmp_path / "out.npy")


def test_states_are_checkpointed_and_shown(trained: Path) -> None:
    values = checkpoint(trained)
    state_keys = [k for k in values if "states" in k]
    assert len(state_keys) == 4  # two LSTMs x (h, c)
    assert all(values[k].shape == (2, 6) and np.abs(values[k]).sum() > 0 for k in state_keys)
    shown = invoke("states", str(trained))
    assert shown.exit_code == 0 and "lstm_1" in shown.output and "(2, 6)" in shown.output


def test_reset_per_epoch_leaves_zero_states_like_keras1(stateful: Path, tmp_path: Path) -> None:
    """`reset_states: epoch` resets after every epoch (Keras 1 stateful_lstm.py), so a finished run predicts from
    zeros; validation never moves the training states or their step counters."""
    run = tmp_path / "epoch_run"
    result = invoke("train", str(stateful), "-o", str(run), "--set", "training.reset_states=epoch",
                    "--set", "data.validation_split=0.5")
    assert result.exit_code == 0, result.output
    values = checkpoint(run)
    state_keys = [k for k in values if "/states/" in k]
    assert len(state_keys) == 4, sorted(values)  # two LSTMs x (h, c): the filter must find every state
    assert all(not values[k].any() for k in state_keys)


def test_chunked_predict_equals_whole_and_reset_equals_fresh(trained: Path, tmp_path: Path) -> None:
    x = np.load(tmp_path / "x.npy")  # 20 rows = 10 batches of the 2 streams
    assert invoke("reset-states", str(trained)).exit_code == 0
    whole = predict(trained, x, tmp_path, "--no-save-states")
    first = predict(trained, x[:8], tmp_path)
    second = predict(trained, x[8:], tmp_path)
    np.testing.assert_allclose(np.concatenate([first, second]), whole, rtol=1e-6, atol=1e-6)
    # without a reset the states move on, so the same input gives different outputs
    again = predict(trained, x[:8], tmp_path)
    assert np.abs(again - first).max() > 1e-4
    reset = invoke("reset-states", str(trained))
    assert reset.exit_code == 0 and "reset lstm_1" in reset.output and "reset lstm_2" in reset.output
    np.testing.assert_allclose(predict(trained, x[:8], tmp_path, "--no-save-states"), first, rtol=1e-6, atol=1e-6)


def test_reset_states_keeps_weights_and_optimizer_slots(trained: Path) -> None:
    before = checkpoint(trained)
    assert invoke("reset-states", str(trained), "--layer", "lstm_2").exit_code == 0
    after = checkpoint(trained)
    assert before.keys() == after.keys()
    slot_keys = [k for k in before if k.startswith("optimizer/")]
    assert slot_keys, "the optimizer slots must be in the checkpoint"
    reset_keys = [k for k in before if "layers/1/states" in k or "layers/1/steps_since_reset" in k]
    assert len(reset_keys) == 3, sorted(before)  # lstm_2's h, c and its step counter
    assert all(before[k].any() for k in reset_keys)  # so that zeros after the reset show the reset
    for key in before:
        if key in reset_keys:
            assert not after[key].any(), key
        else:
            np.testing.assert_array_equal(before[key], after[key], err_msg=key)


def test_reset_states_errors(trained: Path, regression: Path, tmp_path: Path) -> None:
    unknown = invoke("reset-states", str(trained), "--layer", "nope")
    assert unknown.exit_code == 2 and "no stateful layer named `nope`" in unknown.output
    run = tmp_path / "plain"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    plain = invoke("reset-states", str(run))
    assert plain.exit_code == 2 and "no stateful layer" in plain.output


def test_predict_batch_mismatch_is_clear(trained: Path, tmp_path: Path) -> None:
    np.save(tmp_path / "odd.npy", np.zeros((3, 1, 1), np.float32))
    odd = invoke("predict", str(trained), "--input", str(tmp_path / "odd.npy"))
    assert odd.exit_code == 2 and "divisible by 2" in odd.output
    np.save(tmp_path / "ok.npy", np.zeros((4, 1, 1), np.float32))
    other = invoke("predict", str(trained), "--input", str(tmp_path / "ok.npy"), "--batch-size", "4")
    assert other.exit_code == 2 and "differs from the stateful model's batch size 2" in other.output


def test_export_carries_states_and_reset_signature(trained: Path, tmp_path: Path) -> None:
    exported = tmp_path / "sm"
    result = invoke("export", str(trained), "-o", str(exported))
    assert result.exit_code == 0 and "reset_states" in result.output
    loaded = tf.saved_model.load(str(exported))
    x = tf.constant(np.load(tmp_path / "x.npy")[:2])
    a = loaded.signatures["predict"](x=x)["y"].numpy()
    b = loaded.signatures["predict"](x=x)["y"].numpy()
    assert np.abs(a - b).max() > 1e-5  # the state moved
    loaded.signatures["reset_states"]()
    c = loaded.signatures["predict"](x=x)["y"].numpy()
    loaded.signatures["reset_states"]()
    np.testing.assert_allclose(loaded.signatures["predict"](x=x)["y"].numpy(), c, rtol=1e-6)


def test_remainder_drop_and_error(stateful: Path, tmp_path: Path) -> None:
    data = dict(np.load(tmp_path / "stream.npz"))
    np.savez(tmp_path / "stream.npz", x=data["x"][:79], y=data["y"][:79])
    refused = invoke("train", str(stateful), "-o", str(tmp_path / "a"))
    assert refused.exit_code == 2 and "divisible by the batch size 2; found 79" in refused.output
    dropped = invoke("train", str(stateful), "-o", str(tmp_path / "b"), "--set", "data.remainder=drop",
                     "--epochs", "1")
    assert dropped.exit_code == 0, dropped.output


@pytest.mark.parametrize("text,pattern", [
    ("batch_size: 4", "fixes it to 2"),
    ("reset_states: sometimes", "reset_states must be `epoch`, `never`"),
])
def test_stateful_training_validation(stateful: Path, text: str, pattern: str) -> None:
    content = stateful.read_text().replace("  reset_states: never\n", "").replace("  nb_epoch: 2",
                                                                                f"  nb_epoch: 2\n  {text}")
    stateful.write_text(content)
    with pytest.raises(ConfigError, match=pattern):
        load_config(stateful)
