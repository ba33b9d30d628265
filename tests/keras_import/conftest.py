"""Shared helpers for the Keras 1 import tests.

``FIXTURES`` is the real Keras 1 material in ``<repo>/../shared/keras1-fixtures`` (override with the environment
variable RNNCLI_KERAS1_FIXTURES). ``write_weights_group``/``write_full_model`` write HDF5 files with h5py exactly as
Keras 1.2.2 did (``topology.save_weights_to_hdf5_group``, ``models.save_model``), so the tests can build files the
public corpus lacks (fused ``gpu`` layout, ``optimizer_weights``, broken files).
"""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

FIXTURES = Path(os.environ.get("RNNCLI_KERAS1_FIXTURES")
                or Path(__file__).resolve().parents[2] / ".." / "shared" / "keras1-fixtures")
KERASJS_CASES = FIXTURES / "kerasjs_keras1_layer_cases.json"


def write_weights_group(group: Any, layers: list[tuple[str, list[tuple[str, np.ndarray]]]]) -> None:
    """Keras 1.2.2 ``save_weights_to_hdf5_group``: ``layer_names`` on the group, one subgroup per layer with
    ``weight_names`` and one dataset per weight (also for layers without weights)."""
    group.attrs["layer_names"] = [name.encode("utf8") for name, _ in layers]
    for name, weights in layers:
        sub = group.create_group(name)
        sub.attrs["weight_names"] = [w.encode("utf8") for w, _ in weights]
        for weight_name, value in weights:
            dataset = sub.create_dataset(weight_name, np.shape(value), dtype=np.asarray(value).dtype)
            if np.ndim(value) == 0:
                dataset[()] = value
            else:
                dataset[:] = value


def write_weights_file(path: Path, layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
                       keras_version: str = "1.2.2") -> Path:
    """A ``model.save_weights()`` file: the layer groups at the root."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        write_weights_group(f, layers)
    return path


def write_full_model(path: Path, model_config: dict, layers: list[tuple[str, list[tuple[str, np.ndarray]]]],
                     training_config: dict | None = None, optimizer_weights: list[np.ndarray] | None = None,
                     keras_version: str = "1.2.2") -> Path:
    """Keras 1.2.2 ``save_model``: JSON attributes, ``model_weights`` group, ``optimizer_weights`` group."""
    import h5py

    with h5py.File(path, "w") as f:
        f.attrs["keras_version"] = keras_version.encode("utf8")
        f.attrs["model_config"] = json.dumps(model_config).encode("utf8")
        write_weights_group(f.create_group("model_weights"), layers)
        if training_config is not None:
            f.attrs["training_config"] = json.dumps(training_config).encode("utf8")
        if optimizer_weights is not None:
            group = f.create_group("optimizer_weights")
            names = [f"param_{i}" for i in range(len(optimizer_weights))]  # Theano-style names, as in 1.2.2
            group.attrs["weight_names"] = [n.encode("utf8") for n in names]
            for name, value in zip(names, optimizer_weights):
                dataset = group.create_dataset(name, np.shape(value), dtype=np.asarray(value).dtype)
                if np.ndim(value) == 0:
                    dataset[()] = value
                else:
                    dataset[:] = value
    return path


def sequential(*layers: dict, version: str = "1.2.2") -> dict:
    """A Keras 1 ``Sequential`` document from ``{class_name, config}`` entries."""
    return {"class_name": "Sequential", "config": list(layers), "keras_version": version}


def fuse(kind: str, per_gate: list[np.ndarray]) -> list[np.ndarray]:
    """The Keras 1 'gpu' list [W, U, b] from the per-gate list, written independently of rnncli (spec §14.2):
    LSTM storage i, c, f, o -> blocks i, f, c, o; GRU z, r, h -> z, r, h."""
    if kind == "SimpleRNN":
        return list(per_gate)
    order = [0, 2, 1, 3] if kind == "LSTM" else [0, 1, 2]
    return [np.concatenate([per_gate[3 * g + part] for g in order], axis=-1) for part in range(3)]


class Keras1Kit:
    """The helpers above, handed to tests through the ``k1`` fixture (tests run with --import-mode=importlib)."""

    fixtures = FIXTURES
    kerasjs_cases = KERASJS_CASES
    write_weights_file = staticmethod(write_weights_file)
    write_full_model = staticmethod(write_full_model)
    sequential = staticmethod(sequential)
    fuse = staticmethod(fuse)


import pytest  # noqa: E402


@pytest.fixture
def k1() -> type[Keras1Kit]:
    return Keras1Kit
