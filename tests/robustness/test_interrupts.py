"""Interrupted and corrupted runs: nothing saved is lost, the newest intact checkpoint is always usable."""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.runs import RunStore


@pytest.fixture
def slow_config(tmp_path: Path) -> Path:
    """Many small batches so that an epoch lasts a fraction of a second and signals land mid-epoch."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(512, 5, 2)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=x.sum(axis=(1, 2))[:, None])
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: GRU, output_dim: 8, input_shape: [5, 2]}
            - {type: Dense, output_dim: 1}
        data: {train: d.npz}
        training: {loss: mse, batch_size: 8, nb_epoch: 40, jit_compile: "false", checkpoint: {keep: 2}}
        """))
    return path


def start(config: Path, run: Path, *extra: str) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "train", str(config), "-o", str(run), *extra],
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "true"})


def wait_for_epochs(run: Path, epochs: int, process: subprocess.Popen, timeout: float = 120) -> None:
    deadline = time.time() + timeout
    while time.time() < deadline:
        if len(RunStore(run).read_history()) >= epochs:
            return
        assert process.poll() is None, process.communicate()
        time.sleep(0.05)
    raise AssertionError("training did not reach the expected epoch")


def checkpoint_epoch(run: Path) -> int:
    import tensorflow as tf

    return int(tf.train.load_checkpoint(str(run / "checkpoints")).get_tensor("loop/epoch/.ATTRIBUTES/VARIABLE_VALUE"))


def assert_consistent_and_resumable(config: Path, run: Path, epochs: int) -> None:
    saved = checkpoint_epoch(run)
    rows = RunStore(run).read_history()
    assert len(rows) <= saved and [r["epoch"] for r in rows] == list(range(1, len(rows) + 1))
    assert saved - len(rows) <= 1  # at most the one epoch whose CSV write was cut short
    resumed = subprocess.run([sys.executable, "-m", "rnncli.cli.main", "train", str(config), "-o", str(run), "--resume",
                              "--epochs", str(epochs)], cwd=config.parent, capture_output=True, text=True,
                             env={**os.environ, "CI": "true"}, timeout=300)
    assert resumed.returncode == 0, resumed.stderr
    rows = RunStore(run).read_history()
    assert [r["epoch"] for r in rows] == list(range(1, epochs + 1))
    assert checkpoint_epoch(run) == epochs


@pytest.mark.parametrize("sig,seed", [(signal.SIGINT, 1), (signal.SIGKILL, 2)])
def test_signal_at_a_random_moment(slow_config: Path, tmp_path: Path, sig: int, seed: int) -> None:
    run = tmp_path / "run"
    process = start(slow_config, run)
    wait_for_epochs(run, 1, process)
    time.sleep(random.Random(seed).uniform(0.0, 0.6))
    process.send_signal(sig)
    _, err = process.communicate(timeout=60)
    if sig == signal.SIGINT:
        assert process.returncode == 130, err
        assert "--resume" in err and "Traceback" not in err
        assert '"status": "interrupted"' in (run / "run.json").read_text()
    else:
        assert process.returncode == -signal.SIGKILL
        assert (run / "run.lock").exists()  # left behind by the killed process: detected as stale
    assert_consistent_and_resumable(slow_config, run, checkpoint_epoch(run) + 1)


def test_corrupted_checkpoint_falls_back(slow_config: Path, tmp_path: Path) -> None:
    run = tmp_path / "run"
    runner = CliRunner()
    assert runner.invoke(main, ["train", str(slow_config), "-o", str(run), "--epochs", "3"]).exit_code == 0
    newest = sorted((run / "checkpoints").glob("ckpt-*.data-*"))[-1]
    newest.write_bytes(b"garbage" * 10)
    np.save(tmp_path / "x.npy", np.zeros((4, 5, 2), np.float32))
    predicted = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.npy")])
    assert predicted.exit_code == 0, predicted.output
    assert "unreadable" in predicted.output and newest.name.split(".")[0] in predicted.output
    resumed = runner.invoke(main, ["train", str(slow_config), "-o", str(run), "--resume", "--epochs", "4"])
    assert resumed.exit_code == 0, resumed.output
    assert "falling back" in resumed.output and "resumed from" in resumed.output
    for data in (run / "checkpoints").glob("ckpt-*.index"):
        data.write_bytes(b"")
    broken = runner.invoke(main, ["predict", str(run), "--input", str(tmp_path / "x.npy")])
    assert broken.exit_code == 1 and "every checkpoint is unreadable" in broken.output
    assert "Traceback" not in broken.output


def test_sigterm_is_handled_like_ctrl_c(slow_config: Path, tmp_path: Path) -> None:
    """What Kubernetes, Slurm and `docker stop` send: exit 143, status `interrupted` with the signal, no lock."""
    run = tmp_path / "run"
    process = start(slow_config, run, "--epochs", "40")
    wait_for_epochs(run, 1, process)
    time.sleep(0.2)
    process.send_signal(signal.SIGTERM)
    _, err = process.communicate(timeout=60)
    assert process.returncode == 143, err
    assert "terminated" in err and "--resume --epochs 40" in err and "Traceback" not in err
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "interrupted" and info["reason"]["signal"] == "SIGTERM" and "ended" in info
    assert not (run / "run.lock").exists()
    assert_consistent_and_resumable(slow_config, run, checkpoint_epoch(run) + 1)


def test_a_closed_output_pipe_does_not_stop_training(slow_config: Path, tmp_path: Path) -> None:
    """`rnncli train ... 2>&1 | head -1`: the reader goes away, training finishes its run."""
    run = tmp_path / "run"
    process = subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "train", str(slow_config), "-o", str(run),
                                "--epochs", "3"], cwd=slow_config.parent, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, env={**os.environ, "CI": "true"})
    assert process.stdout is not None
    process.stdout.readline()
    process.stdout.close()  # like `head -1` exiting
    assert process.wait(timeout=300) == 0
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "finished" and info["epochs_completed"] == 3


def test_failure_reasons_are_recorded(slow_config: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    run = tmp_path / "run"
    data = dict(np.load(tmp_path / "d.npz"))
    np.savez(tmp_path / "huge.npz", x=data["x"], y=data["y"] * 1e30)  # the squared error overflows at once
    diverged = runner.invoke(main, ["train", str(slow_config), "-o", str(run), "--epochs", "2",
                                    "--set", f"data.train={tmp_path / 'huge.npz'}"])  # --set paths: from the cwd
    assert diverged.exit_code == 1, diverged.output
    info = json.loads((run / "run.json").read_text())
    assert info["status"] == "failed" and info["reason"]["kind"] == "diverged"
    assert "the loss became" in info["reason"]["message"]
    fresh = tmp_path / "fresh"
    assert runner.invoke(main, ["train", str(slow_config), "-o", str(fresh), "--epochs", "1"]).exit_code == 0
    data["x"][0, 0, 0] = np.nan
    np.savez(tmp_path / "d.npz", **data)
    broken = runner.invoke(main, ["train", str(slow_config), "-o", str(fresh), "--resume", "--epochs", "2"])
    assert broken.exit_code == 2 and "NaN" in broken.output
    info = json.loads((fresh / "run.json").read_text())
    assert info["status"] == "failed" and info["reason"]["kind"] == "data" and "NaN" in info["reason"]["message"]
