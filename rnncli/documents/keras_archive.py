"""Read Keras 3 ``.keras`` archives: a zip of ``config.json`` (the model document, with ``compile_config``),
``metadata.json`` and ``model.weights.h5``.

``model.weights.h5`` keys each layer by its class (``saving_lib``: the snake-cased class name, ``_1``, ``_2``, ...
for repeats in the same list, *not* the layer's name) and holds its arrays under ``vars/0``, ``vars/1``, ...; a
recurrent layer's under ``cell/vars``, a Bidirectional's under ``forward_layer/...`` then ``backward_layer/...``, a
TimeDistributed's under ``layer/vars``. They are returned as a ``Keras1File`` whose groups follow the model's layers
(named as in the document), so weights are matched by position as for every other Keras file. Pure Python + h5py.
"""

from __future__ import annotations

import io
import json
import re
import zipfile
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.documents.keras_hdf5 import H5Layer, Keras1File, Keras1FileError

_CHILD_ORDER = ("cell", "forward_layer", "backward_layer", "layer")


def is_keras_archive(path: str | Path) -> bool:
    """True for a zip file holding ``config.json`` (a Keras 3 ``.keras`` archive)."""
    try:
        with zipfile.ZipFile(path) as archive:
            return "config.json" in archive.namelist()
    except (OSError, zipfile.BadZipFile):
        return False


def snake_case(name: str) -> str:
    """Keras 3 ``naming.to_snake_case``: ``SimpleRNN`` -> ``simple_rnn``, ``Conv1D`` -> ``conv1d``."""
    name = re.sub(r"\W+", "", name)
    name = re.sub("(.)([A-Z][a-z]+)", r"\1_\2", name)
    return re.sub("([a-z])([A-Z])", r"\1_\2", name).lower()


def read_keras_archive(path: str | Path) -> tuple[dict, dict | None, Keras1File]:
    """``(model document, training_config as a Keras 2 file holds it or None, weights)``; raises
    ``Keras1FileError`` for a damaged archive."""
    import h5py

    path = Path(path)
    try:
        with zipfile.ZipFile(path) as archive:
            document = json.loads(archive.read("config.json"))
            metadata = json.loads(archive.read("metadata.json")) if "metadata.json" in archive.namelist() else {}
            weights = archive.read("model.weights.h5") if "model.weights.h5" in archive.namelist() else None
    except (OSError, zipfile.BadZipFile, KeyError, ValueError) as exc:
        raise Keras1FileError(f"{path}: cannot read this .keras archive: {exc}") from None
    if not isinstance(document, dict) or "config" not in document:
        raise Keras1FileError(f"{path}: config.json holds no Keras model")
    version = str(metadata.get("keras_version") or "3")
    document = dict(document, keras_version=version)
    if weights is None:
        raise Keras1FileError(f"{path}: the archive has no model.weights.h5")
    try:
        with h5py.File(io.BytesIO(weights), "r") as handle:
            layers = _layers(document, handle)
            optimizer = _optimizer_vars(handle)
    except (OSError, KeyError, ValueError) as exc:
        raise Keras1FileError(f"{path}: cannot read model.weights.h5: {exc}") from None
    return document, _training_config(document.get("compile_config")), Keras1File(
        path, version, document, None, layers, optimizer, "tensorflow")


def _entries(document: dict) -> list[dict]:
    config = document.get("config")
    layers = config.get("layers") if isinstance(config, dict) else None
    if not isinstance(layers, list):
        raise Keras1FileError("config.json: the model has no layer list")
    return [e for e in layers if isinstance(e, dict) and e.get("class_name") != "InputLayer"]


def _layers(document: dict, handle: Any) -> list[H5Layer]:
    root = handle["layers"] if "layers" in handle else None
    used: dict[str, int] = {}
    out = []
    for entry in _entries(document):
        key = snake_case(str(entry.get("class_name")))
        used[key] = used.get(key, -1) + 1
        if used[key]:
            key = f"{key}_{used[key]}"
        name = (entry.get("config") or {}).get("name", key)
        names, arrays = ([], []) if root is None or key not in root else _arrays(root[key], key)
        out.append(H5Layer(name, names, arrays))
    return out


def _arrays(group: Any, prefix: str) -> tuple[list[str], list[np.ndarray]]:
    """A layer group's arrays: its own ``vars`` in index order, then its children (cell, forward, backward)."""
    import h5py

    names, arrays = [], []
    if "vars" in group:
        for index in sorted(group["vars"].keys(), key=int):
            names.append(f"{prefix}/vars/{index}")
            arrays.append(np.asarray(group["vars"][index][()]))
    children = [k for k in _CHILD_ORDER if k in group] + sorted(
        k for k in group.keys() if k not in _CHILD_ORDER and k != "vars" and isinstance(group[k], h5py.Group))
    for child in children:
        more_names, more = _arrays(group[child], f"{prefix}/{child}")
        names += more_names
        arrays += more
    return names, arrays


def _optimizer_vars(handle: Any) -> list[tuple[str, np.ndarray]] | None:
    if "optimizer" not in handle or "vars" not in handle["optimizer"]:
        return None
    group = handle["optimizer"]["vars"]
    return [(f"optimizer/vars/{k}", np.asarray(group[k][()])) for k in sorted(group.keys(), key=int)]


_LOSSES = {"MeanSquaredError": "mse", "MeanAbsoluteError": "mae", "BinaryCrossentropy": "binary_crossentropy",
           "CategoricalCrossentropy": "categorical_crossentropy",
           "SparseCategoricalCrossentropy": "sparse_categorical_crossentropy",
           "MeanAbsolutePercentageError": "mape", "MeanSquaredLogarithmicError": "msle", "Hinge": "hinge",
           "SquaredHinge": "squared_hinge", "KLDivergence": "kld", "Poisson": "poisson", "LogCosh": "logcosh"}


def _training_config(compile_config: Any) -> dict | None:
    """Keras 3 ``compile_config`` as the ``training_config`` a Keras 2 ``.h5`` holds (loss, metrics, optimizer)."""
    if not isinstance(compile_config, dict) or compile_config.get("loss") is None:
        return None
    loss = compile_config["loss"]
    if isinstance(loss, dict):
        loss = _LOSSES.get(loss.get("class_name"), loss.get("class_name"))
    optimizer = compile_config.get("optimizer")
    if isinstance(optimizer, dict):
        optimizer = {"class_name": optimizer.get("class_name"), "config": optimizer.get("config") or {}}
    metrics = compile_config.get("metrics") or []
    return {"loss": loss, "metrics": [m for m in metrics if isinstance(m, str)] if isinstance(metrics, list) else [],
            "optimizer_config": optimizer, "loss_weights": compile_config.get("loss_weights")}
