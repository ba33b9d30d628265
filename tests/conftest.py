"""Shared test fixtures: the model factory (layers, model, conformance) and small end-to-end configs with data.

The ``kit`` fixture builds rnncli models the way users do (a YAML config validated by ``load_config``, then
``rnncli.model.Sequential``) from keyword arguments, and holds the tiny fixed inputs, masks and weights the tests
share (B=3, T=5, D=4, u=5). Keras 3 oracles (spec §14.4) are built here too, configured to Keras 1 math.
"""

from __future__ import annotations

import itertools
import textwrap
import os

os.environ.setdefault("KERAS_BACKEND", "tensorflow")
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import signal  # noqa: E402

# A shell without job control starts background jobs (`pytest ... &`) with SIGINT ignored, and Python then leaves
# it ignored, in this process and in the rnncli processes the tests start: the Ctrl-C tests would see nothing.
# Give the suite (and so its children) the usual Ctrl-C behaviour wherever it was started from.
if signal.getsignal(signal.SIGINT) is signal.SIG_IGN:
    signal.signal(signal.SIGINT, signal.default_int_handler)

from pathlib import Path  # noqa: E402
from typing import Any  # noqa: E402

import numpy as np  # noqa: E402
import pytest  # noqa: E402
import tensorflow as tf  # noqa: E402
import yaml  # noqa: E402

from rnncli.config.plan import GATES  # noqa: E402
from rnncli.config.validate import load_config  # noqa: E402
from rnncli.model import Sequential, build_model  # noqa: E402

B, T, D, U = 3, 5, 4, 5

# [B, T] masks; every sample keeps at least one step. "holes" masks the first and the last step of some samples.
MASKS: dict[str, list[list[int]] | None] = {
    "none": None,
    "pre": [[0, 0, 1, 1, 1], [0, 1, 1, 1, 1], [1, 1, 1, 1, 1]],
    "post": [[1, 1, 1, 0, 0], [1, 1, 1, 1, 0], [1, 1, 1, 1, 1]],
    "holes": [[1, 0, 1, 0, 1], [0, 1, 1, 0, 0], [1, 1, 0, 1, 1]],
}
# Samples never interact in these layers, so the three mask kinds are tested in one [3B, T] batch: rows
# MASK_ROWS[kind] hold that kind's B samples. A mask of None (a separate code path) is tested on its own call.
MASKED_KINDS = ("pre", "post", "holes")
STACKED_MASK = np.concatenate([np.array(MASKS[k], dtype=bool) for k in MASKED_KINDS])
MASK_ROWS = {k: slice(i * B, (i + 1) * B) for i, k in enumerate(MASKED_KINDS)}


def k1_hard_sigmoid(t):
    """Keras 1 hard_sigmoid for Keras 3 oracles (Keras 3's own has slope 1/6; spec §14.3)."""
    import keras

    return keras.ops.clip(0.2 * t + 0.5, 0.0, 1.0)


def keras_k1_hard_sigmoid():
    """``k1_hard_sigmoid`` registered with Keras, so layers that clone themselves through their config
    (``keras.layers.Bidirectional``) can rebuild it."""
    import keras

    return keras.saving.register_keras_serializable("rnncli_tests", "k1_hard_sigmoid")(k1_hard_sigmoid)


class Kit:
    """Model building and fixed data for the layer tests."""

    B, T, D, U = B, T, D, U
    MASKS = MASKS
    MASKED_KINDS = MASKED_KINDS
    STACKED_MASK = STACKED_MASK
    MASK_ROWS = MASK_ROWS
    keras_hard_sigmoid = staticmethod(keras_k1_hard_sigmoid)

    def __init__(self, directory: Path):
        self.directory = directory
        self._count = itertools.count()

    # -- building -------------------------------------------------------------------------------------------------

    def write_config(self, layers: list[dict] | dict, seed: int = 0) -> Path:
        """``layers``: a chain's layer list, or a whole graph ``model:`` section (``inputs``, ``layers``)."""
        path = self.directory / f"model_{next(self._count)}.yaml"
        model = layers if isinstance(layers, dict) else {"layers": layers}
        path.write_text(yaml.safe_dump({"seed": seed, "model": model}, sort_keys=False))
        return path

    def model(self, layers: list[dict] | dict, seed: int = 0, weight_files: bool = True) -> Sequential:
        config = load_config(self.write_config(layers, seed))
        return build_model(config.model, config.seed, weight_files)

    def layer_config(self, kind: str, *, input_shape=(T, D), batch_size: int | None = None, **args) -> dict:
        config: dict[str, Any] = {"type": kind}
        if batch_size is not None:
            config["batch_input_shape"] = [batch_size, *input_shape]
        else:
            config["input_shape"] = list(input_shape)
        config.update(args)
        return config

    def single(self, kind: str, *, seed: int = 0, input_shape=(T, D), batch_size: int | None = None, **args):
        """A one-layer model and its layer; ``args`` are the layer's config keys (``output_dim`` defaults to u)."""
        if kind in GATES:
            args.setdefault("output_dim", U)
        model = self.model([self.layer_config(kind, input_shape=input_shape, batch_size=batch_size, **args)], seed)
        return model, model.layers[0]

    def save_weights(self, arrays: list[np.ndarray]) -> str:
        """Write ``np.savez(path, *arrays)`` next to the configs; returns the name to put under ``weights:``."""
        name = f"weights_{next(self._count)}.npz"
        np.savez(self.directory / name, *arrays)
        return name

    # -- data -----------------------------------------------------------------------------------------------------

    @staticmethod
    def inputs(seed: int = 0, shape=(B, T, D)) -> np.ndarray:
        return np.random.default_rng(seed).normal(size=shape).astype(np.float32)

    @staticmethod
    def mask(kind: str) -> tf.Tensor | None:
        value = MASKS[kind]
        return None if value is None else tf.constant(np.array(value, dtype=bool))

    @staticmethod
    def random_weights(kind: str, input_dim: int = D, units: int = U, seed: int = 0, scale: float = 0.6):
        """Fused Keras 1 [W, U, b] with entries large enough to leave the hard_sigmoid linear range sometimes."""
        rng = np.random.default_rng([seed, GATES[kind]])
        g = GATES[kind]
        return [rng.uniform(-scale, scale, (input_dim, g * units)).astype(np.float32),
                rng.uniform(-scale, scale, (units, g * units)).astype(np.float32),
                rng.uniform(-scale / 2, scale / 2, (g * units,)).astype(np.float32)]

    # -- Keras 3 oracles (spec §14.4) -------------------------------------------------------------------------------

    @staticmethod
    def keras_recurrent(kind: str, weights, *, activation: str = "tanh", inner_activation: str | None = None,
                        go_backwards: bool = False, return_sequences: bool = True, return_state: bool = True,
                        batch_shape=(B, T, D)):
        import keras

        common = dict(activation=activation, go_backwards=go_backwards, return_sequences=return_sequences,
                      return_state=return_state)
        units = weights[1].shape[0]
        if kind == "SimpleRNN":
            layer = keras.layers.SimpleRNN(units, **common)
        else:
            inner = (keras_k1_hard_sigmoid() if (inner_activation or "hard_sigmoid") == "hard_sigmoid"
                     else inner_activation)
            extra = {"reset_after": False} if kind == "GRU" else {}
            cls = keras.layers.GRU if kind == "GRU" else keras.layers.LSTM
            layer = cls(units, recurrent_activation=inner, use_cudnn=False, **extra, **common)
        layer.build(batch_shape)
        layer.set_weights([np.asarray(w) for w in weights])
        return layer


@pytest.fixture(scope="session")
def kit(tmp_path_factory) -> Kit:
    return Kit(tmp_path_factory.mktemp("layers"))


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


@pytest.fixture(autouse=True, scope="session")
def _private_compile_cache(tmp_path_factory):
    """The persistent XLA cache goes to a temporary folder, never the user's ~/.cache."""
    if "RNNCLI_CACHE_DIR" not in os.environ:
        os.environ["RNNCLI_CACHE_DIR"] = str(tmp_path_factory.mktemp("rnncli-cache"))
    yield
