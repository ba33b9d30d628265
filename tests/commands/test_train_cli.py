"""Training through the CLI: learning, run directories, exact resume, determinism, refusals, predict, export."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore

ROOT = Path(__file__).resolve().parents[2]


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def rnncli_process(*args: str, cwd: Path) -> subprocess.CompletedProcess:
    env = {**os.environ, "CI": "true"}
    return subprocess.run([sys.executable, "-m", "rnncli.cli.main", *args], cwd=cwd, capture_output=True, text=True,
                          env=env, timeout=300)


def checkpoint_values(run: Path) -> dict[str, np.ndarray]:
    import tensorflow as tf

    reader = tf.train.load_checkpoint(str(run / "checkpoints"))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and "history_json" not in k}  # history rows hold wall times


def test_train_reduces_loss_and_writes_run(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "6")
    assert result.exit_code == 0, result.output
    rows = RunStore(run).read_history()
    assert [r["epoch"] for r in rows] == list(range(1, 7))
    assert rows[-1]["loss"] < rows[0]["loss"] * 0.7
    assert {"loss", "mean_absolute_error", "val_loss", "val_mean_absolute_error", "lr", "seconds"} <= set(rows[0])
    info = json.loads((run / "run.json").read_text())
    for key in ("rnncli", "tensorflow", "python", "numpy", "device", "seed", "command", "started", "ended"):
        assert key in info
    assert info["status"] == "finished" and info["seed"] == 7
    assert (run / "config.resolved.yaml").exists() and (run / "checkpoints" / "best").exists()
    again = invoke("train", str(regression), "-o", str(run))
    assert again.exit_code == 2 and "--resume" in again.output
    history = invoke("history", str(run))
    assert history.exit_code == 0 and "val_loss" in history.output
    plotted = invoke("plot", str(run), "-o", str(tmp_path / "curves.png"))
    assert plotted.exit_code == 0 and (tmp_path / "curves.png").read_bytes()[:4] == b"\x89PNG"


def test_plot_without_matplotlib_is_a_clear_error(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from rnncli.errors import RnncliError
    from rnncli.commands.plot import plot_history

    monkeypatch.setitem(sys.modules, "matplotlib", None)
    with pytest.raises(RnncliError, match="pip install 'rnncli\\[plot\\]'"):
        plot_history([{"epoch": 1, "loss": 1.0}], tmp_path / "x.png", "t")


def test_gru_classification_learns(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    x = rng.integers(1, 10, size=(256, 12)).astype(np.int32)
    x[:, :4] = 0  # pre-padding
    y = (np.sum(x == 3, axis=1) > np.sum(x == 4, axis=1)).astype(np.float32)[:, None]
    np.savez(tmp_path / "d.npz", x=x, y=y)
    config = tmp_path / "gru.yaml"
    config.write_text("""\
model:
  layers:
    - {type: Embedding, input_dim: 10, output_dim: 8, mask_zero: true, input_length: 12}
    - {type: GRU, output_dim: 16, consume_less: gpu}
    - {type: Dense, output_dim: 1, activation: sigmoid}
data: {train: d.npz, validation_split: 0.25}
training: {loss: binary_crossentropy, metrics: [accuracy], optimizer: {name: adam, lr: 0.02}, batch_size: 32,
           nb_epoch: 12, jit_compile: "false"}
""")
    result = invoke("train", str(config), "-o", str(tmp_path / "run"))
    assert result.exit_code == 0, result.output
    rows = RunStore(tmp_path / "run").read_history()
    assert rows[-1]["acc"] > 0.8 and rows[-1]["loss"] < rows[0]["loss"]


def test_exact_resume_and_determinism_across_processes(regression: Path, tmp_path: Path) -> None:
    """2 epochs + `--resume --epochs 4` equals 4 epochs straight, bit for bit; and two runs are identical."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    done = rnncli_process("train", str(regression), "-o", str(straight), "--epochs", "4", cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    first = rnncli_process("train", str(regression), "-o", str(split), "--epochs", "2", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    second = rnncli_process("train", str(regression), "-o", str(split), "--resume", "--epochs", "4", cwd=tmp_path)
    assert second.returncode == 0, second.stderr
    a, b = RunStore(straight).read_history(), RunStore(split).read_history()
    assert [r["loss"] for r in a] == [r["loss"] for r in b]
    assert [r["val_loss"] for r in a] == [r["val_loss"] for r in b]
    values_a, values_b = checkpoint_values(straight), checkpoint_values(split)
    assert values_a.keys() == values_b.keys()
    for key in values_a:
        np.testing.assert_array_equal(values_a[key], values_b[key], err_msg=key)


def test_resume_refuses_a_changed_config(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    changed = invoke("train", str(regression), "-o", str(run), "--resume", "--epochs", "2",
                     "--set", "training.optimizer.lr=0.5")
    assert changed.exit_code == 2
    assert "config changed" in changed.output and "lr" in changed.output
    forced = invoke("train", str(regression), "-o", str(run), "--resume", "--epochs", "2",
                    "--set", "training.optimizer.lr=0.5", "--force")
    assert forced.exit_code == 0, forced.output


def test_predict_formats_evaluate_and_export(regression: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    run = tmp_path / "run"
    assert invoke("train", str(regression), "-o", str(run), "--epochs", "1").exit_code == 0
    x = np.load(tmp_path / "val.npz")["x"]
    np.save(tmp_path / "x.npy", x)
    out_npy, out_csv = tmp_path / "y.npy", tmp_path / "y.csv"
    assert invoke("predict", str(run), "--input", str(tmp_path / "x.npy"), "--output", str(out_npy)).exit_code == 0
    assert invoke("predict", str(run), "--input", str(tmp_path / "val.npz"), "--output", str(out_csv)).exit_code == 0
    y = np.load(out_npy)
    assert y.shape == (16, 1) and y.dtype == np.float32
    assert out_csv.read_text().splitlines()[0] == "y"  # a header line
    np.testing.assert_allclose(np.loadtxt(out_csv, delimiter=",", skiprows=1).reshape(-1, 1), y, rtol=1e-6,
                               atol=1e-6)
    evaluated = invoke("evaluate", str(run), "--json")
    assert evaluated.exit_code == 0
    assert {"loss", "mean_absolute_error"} <= set(json.loads(evaluated.output))
    exported = tmp_path / "exported"
    assert invoke("export", str(run), "--format", "savedmodel", "-o", str(exported)).exit_code == 0
    loaded = tf.saved_model.load(str(exported))
    np.testing.assert_allclose(loaded.signatures["predict"](x=tf.constant(x))["y"].numpy(), y, rtol=1e-5, atol=1e-6)


def test_predict_from_config_without_training(tmp_path: Path) -> None:
    config = tmp_path / "m.yaml"
    config.write_text("model:\n  layers:\n    - {type: SimpleRNN, output_dim: 3, input_shape: [4, 2]}\n")
    np.save(tmp_path / "x.npy", np.ones((5, 4, 2), np.float32))
    result = invoke("predict", str(config), "--input", str(tmp_path / "x.npy"), "--output", str(tmp_path / "y.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "y.npy").shape == (5, 3)


@pytest.mark.parametrize("problem,pattern", [
    ("features", "x has 3 features per step but the first layer expects 2"),
    ("nan", "x contains NaN or Inf"),
    ("pickle", "holds Python objects"),
    ("samples", "x has 80 samples but y has 79"),
])
def test_data_errors_are_clear(regression: Path, tmp_path: Path, problem: str, pattern: str) -> None:
    data = dict(np.load(tmp_path / "train.npz"))
    if problem == "features":
        data["x"] = np.zeros((80, 6, 3), np.float32)
    elif problem == "nan":
        data["x"][3, 2, 1] = np.nan
    elif problem == "pickle":
        data["x"] = np.array([{"a": 1}] * 80, dtype=object)
    else:
        data["y"] = data["y"][:79]
    np.savez(tmp_path / "train.npz", **data)
    result = invoke("train", str(regression), "-o", str(tmp_path / "run"))
    assert result.exit_code == 2
    assert pattern in result.output and "Traceback" not in result.output


def test_device_gpu_fails_cleanly_without_gpu(regression: Path, tmp_path: Path) -> None:
    import tensorflow as tf

    if tf.config.list_physical_devices("GPU"):
        pytest.skip("this machine has a GPU")
    result = invoke("train", str(regression), "-o", str(tmp_path / "run"), "--device", "gpu")
    assert result.exit_code == 1 and "rnncli doctor" in result.output
    ok = invoke("train", str(regression), "-o", str(tmp_path / "run2"), "--device", "cpu", "--epochs", "1")
    assert ok.exit_code == 0


def test_diverging_loss_stops_with_advice(regression: Path, tmp_path: Path) -> None:
    data = dict(np.load(tmp_path / "train.npz"))
    data["y"] = data["y"] * 1e30
    np.savez(tmp_path / "train.npz", **data)
    result = invoke("train", str(regression), "-o", str(tmp_path / "run"), "--set", "training.optimizer.lr=1e10")
    assert result.exit_code == 1
    assert "epoch 1, batch" in result.output and "clipnorm" in result.output


def test_second_process_is_refused(regression: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    run.mkdir()
    (run / "run.lock").write_text(str(os.getppid()))  # a live process that is not us
    result = invoke("train", str(regression), "-o", str(run), "--force")
    assert result.exit_code == 1 and "in use by another rnncli process" in result.output
    (run / "run.lock").write_text("999999")  # stale
    assert invoke("train", str(regression), "-o", str(run), "--force", "--epochs", "1").exit_code == 0
