"""Small configs and data shared by the end-to-end tests (seconds, not minutes)."""

from __future__ import annotations

import textwrap
from pathlib import Path

import numpy as np
import pytest


@pytest.fixture
def regression(tmp_path: Path) -> Path:
    """An LSTM regression: predict the mean of a short noisy sequence."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(96, 6, 2)).astype(np.float32)
    y = x.mean(axis=(1, 2))[:, None].astype(np.float32)
    np.savez(tmp_path / "train.npz", x=x[:80], y=y[:80])
    np.savez(tmp_path / "val.npz", x=x[80:], y=y[80:])
    path = tmp_path / "regression.yaml"
    path.write_text(textwrap.dedent("""\
        seed: 7
        model:
          layers:
            - {type: LSTM, output_dim: 8, input_shape: [6, 2], dropout_U: 0.1, dropout_W: 0.1}
            - {type: Dense, output_dim: 1}
        data: {train: train.npz, validation: val.npz}
        training:
          loss: mse
          metrics: [mae]
          optimizer: {name: adam, lr: 0.01}
          batch_size: 16
          nb_epoch: 4
          jit_compile: "false"
        """))
    return path


@pytest.fixture
def stateful(tmp_path: Path) -> Path:
    """A stateful LSTM over 2 streams of 1-step inputs (Keras 1 stateful_lstm.py in miniature)."""
    steps = 40
    t = np.arange(steps * 2, dtype=np.float32)
    series = np.cos(t / 5.0).reshape(2, steps)        # stream i is row i of every batch
    x = series.T.reshape(steps * 2, 1, 1)             # batch k = rows (2k, 2k+1)
    y = np.roll(series, -1, axis=1).T.reshape(steps * 2, 1)
    np.savez(tmp_path / "stream.npz", x=x, y=y)
    np.save(tmp_path / "x.npy", x[:20])
    path = tmp_path / "stateful.yaml"
    path.write_text(textwrap.dedent("""\
        seed: 3
        model:
          layers:
            - {type: LSTM, output_dim: 6, batch_input_shape: [2, 1, 1], return_sequences: true, stateful: true}
            - {type: LSTM, output_dim: 6, stateful: true}
            - {type: Dense, output_dim: 1}
        data: {train: stream.npz}
        training:
          loss: mse
          optimizer: rmsprop
          nb_epoch: 2
          shuffle: false
          reset_states: never
          jit_compile: "false"
        """))
    return path
