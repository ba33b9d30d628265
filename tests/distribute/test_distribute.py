"""tf.distribute on a CPU-only machine: two logical CPUs (mirrored) and two worker processes (multi_worker)."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pytest

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError
from rnncli.runs import RunStore


@pytest.fixture
def config(tmp_path: Path) -> Path:
    rng = np.random.default_rng(5)
    x = rng.normal(size=(64, 6, 3)).astype(np.float32)
    np.savez(tmp_path / "d.npz", x=x, y=np.tanh(x.sum(axis=1))[:, :2])
    path = tmp_path / "c.yaml"
    path.write_text(textwrap.dedent("""\
        seed: 11
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [6, 3], U_regularizer: {l2: 0.001}}
            - {type: Dense, output_dim: 2}
        data: {train: d.npz}
        training:
          loss: mse
          optimizer: {name: adam, lr: 0.01}
          batch_size: 16
          nb_epoch: 3
          shuffle: true
          jit_compile: "false"
        """))
    return path


def train(config: Path, run: Path, *extra: str, env: dict | None = None) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, "-m", "rnncli.cli.main", "train", str(config), "-o", str(run), *extra],
                            cwd=config.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "CI": "true", **(env or {})})


def losses(run: Path) -> list[float]:
    return [row["loss"] for row in RunStore(run).read_history()]


def finish(process: subprocess.Popen) -> str:
    out, err = process.communicate(timeout=300)
    assert process.returncode == 0, err
    return err


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def test_mirrored_and_multi_worker_match_one_device(config: Path, tmp_path: Path) -> None:
    single = train(config, tmp_path / "single")
    mirrored = train(config, tmp_path / "mirrored", "--distribute", "mirrored",
                     "--set", "training.devices=[/cpu:0, /cpu:1]")
    finish(single)
    header = finish(mirrored)
    assert "MirroredStrategy with 2 replicas" in header
    np.testing.assert_allclose(losses(tmp_path / "mirrored"), losses(tmp_path / "single"), rtol=1e-5)
    assert json.loads((tmp_path / "mirrored" / "run.json").read_text())["distribute"].startswith("MirroredStrategy")

    ports = [free_port(), free_port()]
    cluster = {"worker": [f"127.0.0.1:{p}" for p in ports]}
    run = tmp_path / "multi"
    workers = [train(config, run, "--distribute", "multi_worker",
                     env={"TF_CONFIG": json.dumps({"cluster": cluster, "task": {"type": "worker", "index": i}})})
               for i in range(2)]
    for worker in workers:
        finish(worker)
    np.testing.assert_allclose(losses(run), losses(tmp_path / "single"), rtol=1e-5)
    assert len(list((run / "checkpoints").glob("ckpt-*.index"))) >= 1
    assert not list(tmp_path.glob("rnncli-worker-*"))


def test_stateful_models_are_refused_under_a_strategy(tmp_path: Path) -> None:
    path = tmp_path / "s.yaml"
    path.write_text(textwrap.dedent("""\
        model:
          layers:
            - {type: LSTM, output_dim: 4, batch_input_shape: [2, 1, 1], stateful: true}
        training: {loss: mse, distribute: mirrored}
        """))
    with pytest.raises(ConfigError, match="cannot train a stateful model"):
        load_config(path)


def test_memory_mapped_npy_matches_in_memory(config: Path, tmp_path: Path) -> None:
    """x.npy/y.npy are memory-mapped (never loaded whole) and train exactly like the same arrays from .npz."""
    from click.testing import CliRunner

    from rnncli.cli.main import main
    from rnncli.data.dataset import load_arrays

    data = np.load(tmp_path / "d.npz")
    np.save(tmp_path / "x.npy", data["x"])
    np.save(tmp_path / "y.npy", data["y"])
    assert isinstance(load_arrays(tmp_path / "x.npy", tmp_path / "y.npy").x, np.memmap)
    runner = CliRunner()
    a = runner.invoke(main, ["train", str(config), "-o", str(tmp_path / "npz"), "--epochs", "2"])
    b = runner.invoke(main, ["train", str(config), "-o", str(tmp_path / "npy"), "--epochs", "2",
                             "--set", f"data.train={tmp_path / 'x.npy'}", "--set", f"data.y_train={tmp_path / 'y.npy'}"])
    assert a.exit_code == 0 and b.exit_code == 0, b.output
    assert losses(tmp_path / "npz") == losses(tmp_path / "npy")


def test_mirrored_weighted_loss_matches_one_device(config: Path, tmp_path: Path) -> None:
    """Keras 1's division by the fraction of non-zero sample weights is taken over the global batch (summed over
    replicas), so two replicas train exactly like one device."""
    data = dict(np.load(tmp_path / "d.npz"))
    weights = np.random.default_rng(6).uniform(0.0, 2.0, len(data["x"])).astype(np.float32)
    weights[::5] = 0.0
    np.savez(tmp_path / "d.npz", **data, w=weights)
    extra = ("--epochs", "2", "--set", "data.sample_weight=w")
    single = train(config, tmp_path / "single", *extra)
    mirrored = train(config, tmp_path / "mirrored", *extra, "--distribute", "mirrored",
                     "--set", "training.devices=[/cpu:0, /cpu:1]")
    finish(single)
    finish(mirrored)
    np.testing.assert_allclose(losses(tmp_path / "mirrored"), losses(tmp_path / "single"), rtol=1e-5)
