"""Read the HDF5 files Keras 1 wrote: ``save_weights()`` files and ``model.save()`` full-model files.

Layout (Keras 1.2.2 ``topology.save_weights_to_hdf5_group``, ``models.save_model``)::

    /                      attrs: keras_version, [model_config (JSON), training_config (JSON)]
    /model_weights         (full-model files; a save_weights() file has this group's content at the root)
        attrs: layer_names = [b'lstm_1', b'dense_1', ...]   (every layer, also those without weights)
        /lstm_1            attrs: weight_names = [b'lstm_1_W_i:0', ...]  (TensorFlow backend; Theano: no ':0')
            /lstm_1_W_i:0  dataset, shape (D, u)
    /optimizer_weights     (only after training) attrs: weight_names, one dataset per optimizer variable

Keras 1 loads weights by position in ``weight_names`` order, never by name; so does rnncli. Names are kept only to
tell the backend apart (Theano convolution kernels are flipped) and to name arrays in error messages.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import UserInputError


class Keras1FileError(UserInputError):
    """A Keras 1 HDF5 file is missing, unreadable or does not hold what rnncli needs (exit code 2)."""


@dataclass
class H5Layer:
    """One layer group: its name, the names of its arrays (file order) and the arrays (float32 or as stored)."""

    name: str
    weight_names: list[str]
    arrays: list[np.ndarray]


@dataclass
class Keras1File:
    """What a Keras 1 HDF5 file holds. ``model_config``/``training_config`` are None in a ``save_weights()`` file."""

    path: Path
    keras_version: str | None
    model_config: dict | None
    training_config: dict | None
    layers: list[H5Layer]
    optimizer_weights: list[tuple[str, np.ndarray]] | None = None
    backend: str = "tensorflow"  # guessed from the weight names (Keras 1 files have no backend attribute)
    weighted: list[H5Layer] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self.weighted = [layer for layer in self.layers if layer.weight_names]

    def find(self, *names: str) -> H5Layer | None:
        """The weighted layer group called one of ``names`` (first match), else the only weighted one, else None."""
        for name in names:
            for layer in self.weighted:
                if layer.name == name:
                    return layer
        return self.weighted[0] if len(self.weighted) == 1 else None


def is_hdf5(path: str | Path) -> bool:
    """True when the file starts with the HDF5 signature (at offset 0; Keras files never use a user block)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(8) == b"\x89HDF\r\n\x1a\n"
    except OSError:
        return False


def _text(value: Any) -> str:
    if isinstance(value, bytes):
        return value.decode("utf-8")
    if isinstance(value, np.ndarray) and value.shape == ():
        return _text(value.item())
    return str(value)


def _names(attrs: Any, key: str, where: str, path: Path) -> list[str]:
    if key not in attrs:
        raise Keras1FileError(f"{path}: {where} has no `{key}` attribute; not a Keras 1 weights file")
    value = attrs[key]
    return [_text(v) for v in np.atleast_1d(value)]


def _json_attr(attrs: Any, key: str, path: Path) -> dict | None:
    if key not in attrs:
        return None
    text = _text(attrs[key])
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise Keras1FileError(f"{path}: attribute `{key}` is not valid JSON ({exc})") from None
    if not isinstance(value, dict):
        raise Keras1FileError(f"{path}: attribute `{key}` must hold a JSON object, got {type(value).__name__}")
    return value


def read_keras1_h5(path: str | Path) -> Keras1File:
    """Read every layer's arrays (and the optimizer's, when present) from a Keras 1 HDF5 file.

    Raises ``Keras1FileError`` (exit code 2) for a missing, non-HDF5, truncated or malformed file, naming the file
    and the group or array at fault.
    """
    import h5py

    path = Path(path)
    if not path.exists():
        raise Keras1FileError(f"{path}: file not found")
    if not is_hdf5(path):
        from rnncli.documents.file_kinds import describe_zip, is_zip

        what = f"this is {describe_zip(path)}; " if is_zip(path) else ""
        raise Keras1FileError(f"{path}: {what}not an HDF5 file (Keras 1 weights and model.save() files are HDF5)")
    try:
        with h5py.File(path, "r") as handle:
            return _read(handle, path)
    except Keras1FileError:
        raise
    except (OSError, KeyError, ValueError, RuntimeError) as exc:
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise Keras1FileError(f"{path}: cannot read this HDF5 file (truncated or damaged?): {reason}") from None


def _read(handle: Any, path: Path) -> Keras1File:
    if "layer_names" in handle.attrs:
        group, where = handle, "the root group"
    elif "model_weights" in handle:
        group, where = handle["model_weights"], "group `model_weights`"
    else:
        raise Keras1FileError(f"{path}: no weights: the file has neither a `model_weights` group (model.save()) "
                              f"nor a `layer_names` attribute at its root (save_weights())")
    layers = []
    for name in _names(group.attrs, "layer_names", where, path):
        if name not in group:
            raise Keras1FileError(f"{path}: {where} lists layer `{name}` in `layer_names`, but has no group for it")
        weight_names = _names(group[name].attrs, "weight_names", f"layer group `{name}`", path)
        arrays = []
        for weight_name in weight_names:
            if weight_name not in group[name]:
                raise Keras1FileError(f"{path}: layer `{name}` lists array `{weight_name}` in `weight_names`, but "
                                      f"the group has no such dataset")
            arrays.append(np.asarray(group[name][weight_name][()]))
        layers.append(H5Layer(name, weight_names, arrays))
    optimizer = None
    if "optimizer_weights" in handle:
        opt = handle["optimizer_weights"]
        names = _names(opt.attrs, "weight_names", "group `optimizer_weights`", path) if "weight_names" in opt.attrs \
            else sorted(opt.keys(), key=_param_index)
        optimizer = [(n, np.asarray(opt[n][()])) for n in names]
    all_names = [n for layer in layers for n in layer.weight_names]
    backend = "tensorflow" if not all_names or any(n.endswith(":0") for n in all_names) else "theano"
    version = _text(handle.attrs["keras_version"]) if "keras_version" in handle.attrs else None
    return Keras1File(path, version, _json_attr(handle.attrs, "model_config", path),
                      _json_attr(handle.attrs, "training_config", path), layers, optimizer, backend)


def _param_index(name: str) -> tuple[int, str]:
    digits = "".join(ch for ch in name.rsplit("_", 1)[-1].split(":")[0] if ch.isdigit())
    return (int(digits) if digits else 0, name)
