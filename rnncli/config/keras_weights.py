"""Match the layers of a Keras 1 HDF5 file to a model plan, by position, as Keras 1's ``load_weights`` did.

Keras 1.2.2 (``topology.load_weights_from_hdf5_group``) pairs the model's layers that have weights with the file's
layer groups that have weights, in order, and loads each group's arrays by position. rnncli does the same and checks
every count and shape first, so a mismatch is one clear error naming the model layer, the file's layer and array,
and both shapes. The arrays are returned in the Keras 1 list layout each rnncli layer accepts in ``set_weights``
(``rnncli.config.weight_layouts``), so they load into any ``consume_less`` mode.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rnncli.config.plan import LayerPlan, ModelPlan, fmt_shape
from rnncli.config.weight_layouts import expected_weight_shapes, from_cudnn
from rnncli.documents.keras_hdf5 import H5Layer, Keras1File, Keras1FileError


def weighted_layers(plan: ModelPlan) -> list[LayerPlan]:
    """The model's layers that own weights, in order (Keras 1's ``filtered_layers``)."""
    return [layer for layer in plan.layers if any(expected_weight_shapes(layer))]


def match_file_to_plan(plan: ModelPlan, source: Keras1File) -> dict[str, list[np.ndarray]]:
    """``{layer name: Keras 1 weight list}`` for every weighted layer of ``plan``; raises ``Keras1FileError``."""
    model_layers = weighted_layers(plan)
    file_layers = source.weighted
    if len(model_layers) != len(file_layers):
        raise Keras1FileError(
            f"{source.path}: the file holds weights for {len(file_layers)} layer(s) "
            f"({', '.join(layer.name for layer in file_layers) or 'none'}), the model has {len(model_layers)} layer(s) "
            f"with weights ({', '.join(layer.name for layer in model_layers) or 'none'}); Keras 1 loads them by "
            f"position, so the counts must agree")
    return {layer.name: layer_arrays(layer, group, source) for layer, group in zip(model_layers, file_layers)}


def layer_arrays(layer: LayerPlan, group: H5Layer, source: Keras1File | Path) -> list[np.ndarray]:
    """One file group's arrays checked against ``layer``'s accepted layouts (and Theano kernels un-flipped)."""
    path = source.path if isinstance(source, Keras1File) else source
    backend = source.backend if isinstance(source, Keras1File) else "tensorflow"
    arrays = cudnn_to_rnncli(layer, [np.asarray(a) for a in group.arrays])
    layouts = expected_weight_shapes(layer)
    shapes = [tuple(a.shape) for a in arrays]
    if shapes in [list(map(tuple, layout)) for layout in layouts]:
        return _convert(layer, arrays, group, backend)
    counts = sorted({len(layout) for layout in layouts})
    if len(arrays) not in counts:
        raise Keras1FileError(
            f"{path}: layer `{layer.name}` ({_kind(layer)}) expects {' or '.join(map(str, counts))} arrays, the "
            f"file's layer `{group.name}` has {len(arrays)} ({', '.join(group.weight_names)})")
    layout = next(layout for layout in layouts if len(layout) == len(arrays))
    for index, (want, got) in enumerate(zip(layout, shapes)):
        if tuple(want) != got:
            raise Keras1FileError(
                f"{path}: layer `{layer.name}` ({_kind(layer)}): array {index} `{group.weight_names[index]}` of the "
                f"file's layer `{group.name}` has shape {fmt_shape(got)}, the model expects {fmt_shape(tuple(want))}")
    raise Keras1FileError(f"{path}: layer `{layer.name}`: shapes {shapes} do not match {layout}")  # pragma: no cover


def cudnn_to_rnncli(layer: LayerPlan, arrays: list[np.ndarray]) -> list[np.ndarray]:
    """A CuDNNLSTM/CuDNNGRU weight list (also both halves of a Bidirectional) in rnncli's layout; other lists as
    they are. Recognised by the bias shape, [8u] / [6u], as tf.keras 2's loader recognised it."""
    plan = layer.inner if layer.type == "Bidirectional" and layer.inner is not None else layer
    kind = plan.type
    if kind not in ("LSTM", "GRU") or (kind == "GRU" and not plan.config.get("reset_after")):
        return arrays
    halves = [arrays[:3], arrays[3:]] if layer.type == "Bidirectional" and len(arrays) == 6 else [arrays]
    converted = [from_cudnn(kind, half) for half in halves]
    if any(c is None for c in converted):
        return arrays
    return [a for c in converted for a in c]


def _kind(layer: LayerPlan) -> str:
    inner = layer.config.get("layer")
    return f"{layer.type}({inner['type']})" if isinstance(inner, dict) else layer.type


def _convert(layer: LayerPlan, arrays: list[np.ndarray], group: H5Layer, backend: str) -> list[np.ndarray]:
    """Theano's conv2d flips kernels (true convolution); TensorFlow's does not: un-flip the filter axis."""
    arrays = [a.astype(np.float32) for a in arrays]
    if layer.type == "Convolution1D" and backend == "theano":
        arrays[0] = unflip_theano_kernel(arrays[0])
    return arrays


def unflip_theano_kernel(kernel: np.ndarray) -> np.ndarray:
    """Reverse the filter axis of a Theano-written Convolution1D kernel: (L, 1, D, F) (Keras 1.1+) or
    (F, D, L, 1) (Keras 1.0.x). Theano's conv2d flips the kernel (true convolution), TensorFlow's does not."""
    if kernel.ndim != 4:
        return kernel
    axis = 0 if kernel.shape[1] == 1 else 2
    return np.flip(kernel, axis=axis).copy()


def read_layer_weights(path: str | Path, names: tuple[str, ...]) -> list[np.ndarray]:
    """The arrays of one layer group of a Keras 1 ``.h5`` (for a layer-level ``weights: file.h5``): the group
    called one of ``names``, else the file's only layer with weights. Raises ``Keras1FileError``."""
    from rnncli.documents.keras_hdf5 import read_keras1_h5

    source = read_keras1_h5(path)
    group = source.find(*names)
    if group is None:
        listed = ", ".join(layer.name for layer in source.weighted) or "none"
        raise Keras1FileError(f"{path}: no layer group named {' or '.join(f'`{n}`' for n in names)} (layers with "
                              f"weights in the file: {listed})")
    arrays = [a.astype(np.float32) for a in group.arrays]
    if source.backend == "theano" and arrays and arrays[0].ndim == 4:
        arrays[0] = unflip_theano_kernel(arrays[0])
    return arrays
