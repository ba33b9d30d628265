"""`training.lr_schedule` and `training.restore_best_weights` through `rnncli train`."""

from __future__ import annotations

import json
import math
from pathlib import Path

import numpy as np
import tensorflow as tf
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore

COSINE_STEPS = "training.lr_schedule={name: cosine, unit: step, warmup: 3, warmup_from: 0.1, decay: 10, alpha: 0.05}"


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def checkpoint_values(directory: Path) -> dict[str, np.ndarray]:
    reader = tf.train.load_checkpoint(str(directory))
    return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
            if "save_counter" not in k and "history_json" not in k}  # history rows hold wall times


def test_schedule_resumes_bit_identically(regression: Path, tmp_path: Path) -> None:
    """4 epochs straight equal 2 epochs + `--resume --epochs 4`, bit for bit, with a per-step warm-up cosine
    schedule whose position runs across the resume; the lr column follows the schedule."""
    straight, split = tmp_path / "straight", tmp_path / "split"
    assert invoke("train", str(regression), "-o", str(straight), "--set", COSINE_STEPS).exit_code == 0
    assert invoke("train", str(regression), "-o", str(split), "--epochs", "2", "--set", COSINE_STEPS).exit_code == 0
    resumed = invoke("train", str(regression), "-o", str(split), "--resume", "--epochs", "4", "--set", COSINE_STEPS)
    assert resumed.exit_code == 0, resumed.output
    a, b = checkpoint_values(straight / "checkpoints"), checkpoint_values(split / "checkpoints")
    assert a.keys() == b.keys() and any("optimizer/iterations" in k for k in a)
    for key in a:
        np.testing.assert_array_equal(a[key], b[key], err_msg=key)
    rows = RunStore(split).read_history()
    # 80 samples / batch 16 = 5 steps per epoch; `lr` is the rate of each epoch's last step (issue 30)
    for row in rows:
        position = 5 * row["epoch"] - 1
        factor = 0.1 + 0.9 * position / 3 if position < 3 else \
            0.05 + 0.95 * 0.5 * (1 + math.cos(math.pi * min(position - 3, 10) / 10))
        assert row["lr"] == np.float32(0.01 * factor) or abs(row["lr"] - 0.01 * factor) < 1e-9


def test_restore_best_weights_ends_on_the_best_epoch(regression: Path, tmp_path: Path) -> None:
    """With the best epoch forced to be the first (monitor loss, mode max: the loss falls every epoch), the final
    weights are epoch 1's: the newest checkpoint's model equals the best checkpoint's, and run.json says so."""
    run = tmp_path / "run"
    result = invoke("train", str(regression), "-o", str(run), "--epochs", "3", "--set",
                    "training.restore_best_weights=true", "--set", "training.checkpoint={monitor: loss, mode: max}")
    assert result.exit_code == 0, result.output
    info = json.loads((run / "run.json").read_text())
    assert info["restored_best_weights"]["epoch"] == 1 and info["restored_best_weights"]["last_epoch"] == 3
    assert info["best"]["epoch"] == 1 and info["epochs_completed"] == 3
    latest, best = checkpoint_values(run / "checkpoints"), checkpoint_values(run / "checkpoints" / "best")
    model_keys = [k for k in latest if k.startswith("model/")]
    assert model_keys
    for key in model_keys:
        np.testing.assert_array_equal(latest[key], best[key], err_msg=key)
    iterations = [k for k in latest if "optimizer/iterations" in k][0]
    assert latest[iterations] == 15 and best[iterations] == 5  # the optimizer stays that of the last epoch
    x = tmp_path / "x.npy"
    np.save(x, np.load(tmp_path / "val.npz")["x"])
    outputs = []
    for which in ("latest", "best"):
        out = tmp_path / f"{which}.npy"
        assert invoke("predict", str(run), "-i", str(x), "-o", str(out), "--checkpoint", which).exit_code == 0
        outputs.append(np.load(out))
    np.testing.assert_array_equal(*outputs)
