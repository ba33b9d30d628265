"""Shape inference for a validated layer stack, in pure Python (no TensorFlow).

A ``ModelPlan`` says, for every layer, its resolved arguments, input and output shapes (batch axis first, ``None``
where unknown), whether a mask flows in and out, and its parameter count. ``validate`` builds it; ``summary`` prints
it; ``rnncli.model`` builds the TensorFlow layers from it.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

Shape = tuple  # tuple[int | None, ...], batch axis first

GATES = {"SimpleRNN": 1, "GRU": 3, "LSTM": 4}


class ShapeProblem(Exception):
    """A layer cannot accept its input; ``key`` names the argument to point at (or None for the layer)."""

    def __init__(self, message: str, key: str | None = None):
        super().__init__(message)
        self.key = key


@dataclass
class LayerPlan:
    """One layer with its resolved arguments and inferred shapes."""

    config: dict
    input_shape: Shape
    output_shape: Shape
    params: int
    mask_in: bool
    mask_out: bool
    inner: "LayerPlan | None" = None

    @property
    def type(self) -> str:
        return self.config["type"]

    @property
    def name(self) -> str:
        return self.config["name"]


@dataclass
class ModelPlan:
    """The whole stack: first input shape and dtype, every layer, and derived facts."""

    input_shape: Shape
    input_dtype: str
    layers: list[LayerPlan] = field(default_factory=list)

    @property
    def batch_size(self) -> int | None:
        return self.input_shape[0]

    @property
    def output_shape(self) -> Shape:
        return self.layers[-1].output_shape if self.layers else self.input_shape

    @property
    def output_mask(self) -> bool:
        return bool(self.layers) and self.layers[-1].mask_out

    @property
    def params(self) -> int:
        return sum(layer.params for layer in self.layers)

    @property
    def trainable_params(self) -> int:
        return sum(layer.params - _non_trainable(layer) for layer in self.layers if layer.config.get("trainable", True))

    @property
    def stateful(self) -> bool:
        return any(_is_stateful(layer) for layer in self.layers)

    def stateful_layers(self) -> list[LayerPlan]:
        return [layer for layer in self.layers if _is_stateful(layer)]


def _non_trainable(layer: LayerPlan) -> int:
    """Parameters no optimizer updates: a BatchNormalization's moving mean and variance."""
    return 2 * layer.input_shape[-1] if layer.type == "BatchNormalization" else 0


def _is_stateful(layer: LayerPlan) -> bool:
    if layer.inner is not None:
        return _is_stateful(layer.inner)
    return bool(layer.config.get("stateful"))


def fmt_shape(shape: Shape) -> str:
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")"


def recurrent_params(kind: str, input_dim: int, units: int) -> int:
    return GATES[kind] * (input_dim * units + units * units + units)


def infer_layer(config: dict, input_shape: Shape, mask_in: bool) -> LayerPlan:
    """Output shape, mask and parameter count of one layer; raises ``ShapeProblem``."""
    kind = config["type"]
    handler = _HANDLERS[kind]
    return handler(config, input_shape, mask_in)


def _need_ndim(config: dict, shape: Shape, ndims: tuple[int, ...], what: str) -> None:
    if len(shape) not in ndims:
        want = " or ".join(f"{n}-D" for n in ndims)
        raise ShapeProblem(
            f"layer `{config['name']}` ({config['type']}) expects {want} input {what}, got shape {fmt_shape(shape)}"
        )


def _recurrent(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    kind = config["type"]
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    batch, steps, features = shape
    units = config["output_dim"]
    if features is None:
        raise ShapeProblem(f"layer `{config['name']}`: the number of input features is unknown")
    if config.get("stateful") and batch is None:
        raise ShapeProblem(
            f"layer `{config['name']}` is stateful, so it needs a fixed batch size: give the first layer "
            f"`batch_input_shape: [B, T, D]` (T may be null)",
            "stateful",
        )
    if config.get("unroll") and steps is None:
        raise ShapeProblem(
            f"layer `{config['name']}` has `unroll: true` but the number of timesteps is unknown: give the first "
            f"layer `input_shape: [T, D]`, `batch_input_shape: [B, T, D]` or `input_length: T`",
            "unroll",
        )
    for key, init in (("init", config.get("init")), ("inner_init", config.get("inner_init"))):
        name = init["name"] if isinstance(init, dict) else init
        rows = features if key == "init" else units
        if name == "identity" and rows != units:
            raise ShapeProblem(
                f"layer `{config['name']}`: `{key}: identity` needs a square matrix, but "
                f"{'W' if key == 'init' else 'U'} is {rows}x{units}", key)
    out = (batch, steps, units) if config["return_sequences"] else (batch, units)
    mask_out = mask_in and config["return_sequences"]
    params = recurrent_params(kind, features, units) + (GATES[kind] * units if config.get("reset_after") else 0)
    return LayerPlan(config, shape, out, params, mask_in, mask_out)


def _embedding(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (2,), "(batch, timesteps) of integer indices")
    out = shape + (config["output_dim"],)
    return LayerPlan(config, shape, out, config["input_dim"] * config["output_dim"], mask_in,
                     bool(config["mask_zero"]) or mask_in)


def _masking(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    return LayerPlan(config, shape, shape, 0, mask_in, True)


def _dense(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    if len(shape) < 2:
        raise ShapeProblem(f"layer `{config['name']}` (Dense) expects at least 2-D input, got {fmt_shape(shape)}")
    features = shape[-1]
    if features is None:
        raise ShapeProblem(f"layer `{config['name']}`: the number of input features is unknown")
    units = config["output_dim"]
    params = features * units + (units if config["bias"] else 0)
    return LayerPlan(config, shape, shape[:-1] + (units,), params, mask_in, False)


def _time_distributed(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    inner = infer_layer(config["layer"], (shape[0],) + shape[2:], False)
    out = shape[:2] + inner.output_shape[1:]
    return LayerPlan(config, shape, out, inner.params, mask_in, mask_in, inner=inner)


def _dropout_like(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    return LayerPlan(config, shape, shape, 0, mask_in, mask_in)


def _flatten(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    if len(shape) < 3:
        raise ShapeProblem(f"layer `{config['name']}` (Flatten) expects at least 3-D input, got {fmt_shape(shape)}")
    if any(d is None for d in shape[1:]):
        raise ShapeProblem(
            f"layer `{config['name']}` (Flatten) needs a fully known input shape, got {fmt_shape(shape)}: give the "
            f"first layer a fixed number of timesteps (`input_shape: [T, D]` or `input_length: T`)"
        )
    return LayerPlan(config, shape, (shape[0], math.prod(shape[1:])), 0, mask_in, False)


def _repeat_vector(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (2,), "(batch, features)")
    return LayerPlan(config, shape, (shape[0], config["n"], shape[1]), 0, mask_in, False)


def _bidirectional(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    inner = infer_layer(config["layer"], shape, mask_in)
    out = inner.output_shape
    if config["merge_mode"] == "concat":
        out = out[:-1] + (out[-1] * 2,)
    return LayerPlan(config, shape, out, 2 * inner.params, mask_in, inner.mask_out, inner=inner)


_HANDLERS = {
    "SimpleRNN": _recurrent,
    "GRU": _recurrent,
    "LSTM": _recurrent,
    "Embedding": _embedding,
    "Masking": _masking,
    "Dense": _dense,
    "TimeDistributed": _time_distributed,
    "Dropout": _dropout_like,
    "Activation": _dropout_like,
    "Flatten": _flatten,
    "RepeatVector": _repeat_vector,
    "Bidirectional": _bidirectional,
}


# -- Keras 1 layers around recurrent ones (no masking: the validator refuses a mask reaching them) ---------------


def _input_layer(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    if config.get("sparse"):
        raise ShapeProblem(f"layer `{config['name']}` (InputLayer): sparse inputs are not supported; use dense "
                           f"arrays", "sparse")
    return LayerPlan(config, shape, shape, 0, mask_in, mask_in)


def _reshape(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    target = config["target_shape"]
    name = config["name"]
    if not isinstance(target, (list, tuple)) or not target or not all(
            isinstance(d, int) and not isinstance(d, bool) and (d > 0 or d == -1) for d in target):
        raise ShapeProblem(f"layer `{name}` (Reshape): `target_shape` must be a non-empty list of positive integers "
                           f"(one may be -1), got {target!r}", "target_shape")
    if list(target).count(-1) > 1:
        raise ShapeProblem(f"layer `{name}` (Reshape): only one entry of `target_shape` may be -1", "target_shape")
    if any(d is None for d in shape[1:]):
        raise ShapeProblem(f"layer `{name}` (Reshape) needs a fully known input shape, got {fmt_shape(shape)}: give "
                           f"the first layer a fixed number of timesteps")
    size, known = math.prod(shape[1:]), math.prod(d for d in target if d != -1)
    if -1 in target:
        if size % known:
            raise ShapeProblem(f"layer `{name}` (Reshape): cannot reshape {fmt_shape(shape)} ({size} values per "
                               f"sample) to {tuple(target)}", "target_shape")
        target = [size // known if d == -1 else d for d in target]
    elif known != size:
        raise ShapeProblem(f"layer `{name}` (Reshape): target_shape {tuple(target)} holds {known} values per sample, "
                           f"the input {fmt_shape(shape)} holds {size}", "target_shape")
    return LayerPlan(config, shape, (shape[0],) + tuple(target), 0, mask_in, False)


def _permute(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    dims = config["dims"]
    rank = len(shape) - 1
    if not isinstance(dims, (list, tuple)) or sorted(dims) != list(range(1, rank + 1)) or not all(
            isinstance(d, int) and not isinstance(d, bool) for d in dims):
        raise ShapeProblem(f"layer `{config['name']}` (Permute): `dims` must be a permutation of "
                           f"{list(range(1, rank + 1))} (1-based axes of the {rank}-D sample), got {dims!r}", "dims")
    return LayerPlan(config, shape, (shape[0],) + tuple(shape[d] for d in dims), 0, mask_in, False)


def conv_output_length(length: int | None, window: int, border_mode: str, stride: int) -> int | None:
    """Keras 1 ``conv_output_length``: valid L - w + 1, same L; then ceil(. / stride)."""
    if length is None:
        return None
    out = length - window + 1 if border_mode == "valid" else length
    return (out + stride - 1) // stride


def _check_window(config: dict, steps: int | None, window: int, key: str) -> None:
    if config["border_mode"] == "valid" and steps is not None and steps < window:
        raise ShapeProblem(f"layer `{config['name']}` ({config['type']}): the input has {steps} timesteps, fewer "
                           f"than `{key}: {window}` (border_mode valid)", key)


def _convolution1d(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    batch, steps, features = shape
    if features is None:
        raise ShapeProblem(f"layer `{config['name']}`: the number of input features is unknown")
    length, filters = config["filter_length"], config["nb_filter"]
    _check_window(config, steps, length, "filter_length")
    out = conv_output_length(steps, length, config["border_mode"], config["subsample_length"])
    params = length * features * filters + (filters if config["bias"] else 0)
    return LayerPlan(config, shape, (batch, out, filters), params, mask_in, False)


def _pooling1d(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    window = config["pool_length"]
    _check_window(config, shape[1], window, "pool_length")
    out = conv_output_length(shape[1], window, config["border_mode"], config["stride"] or window)
    return LayerPlan(config, shape, (shape[0], out, shape[2]), 0, mask_in, False)


def _global_pooling1d(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    return LayerPlan(config, shape, (shape[0], shape[2]), 0, mask_in, False)


def _batch_normalization(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (2, 3), "(batch, features) or (batch, timesteps, features)")
    if shape[-1] is None:
        raise ShapeProblem(f"layer `{config['name']}`: the number of input features is unknown")
    if config["axis"] not in (-1, len(shape) - 1):
        raise ShapeProblem(f"layer `{config['name']}` (BatchNormalization): `axis: {config['axis']}`; rnncli "
                           f"normalises the last axis only (-1 or {len(shape) - 1})", "axis")
    params = shape[-1] * (2 + int(config["center"]) + int(config["scale"]))
    return LayerPlan(config, shape, shape, params, mask_in, False)


def prelu_alpha_shape(config: dict, shape: Shape) -> tuple[int, ...]:
    """The alphas' shape: the input's without the batch axis, 1 on the shared axes (1-based)."""
    shared = config.get("shared_axes") or []
    shared = [shared] if isinstance(shared, int) else list(shared)
    if any(not isinstance(a, int) or not 1 <= a < len(shape) for a in shared):
        raise ShapeProblem(f"layer `{config['name']}` (PReLU): `shared_axes` must name axes 1..{len(shape) - 1}",
                           "shared_axes")
    alpha = tuple(1 if axis in shared else d for axis, d in enumerate(shape) if axis > 0)
    if any(d is None for d in alpha):
        raise ShapeProblem(f"layer `{config['name']}` (PReLU) needs a known input shape for its alphas, got "
                           f"{fmt_shape(shape)} (share the unknown axis with `shared_axes: [1]`)", "shared_axes")
    return alpha


def _prelu(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    return LayerPlan(config, shape, shape, math.prod(prelu_alpha_shape(config, shape)), mask_in, mask_in)


def _spatial_dropout(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (3,), "(batch, timesteps, features)")
    return LayerPlan(config, shape, shape, 0, mask_in, mask_in)


def _highway(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (2,), "(batch, features)")
    features = shape[1]
    return LayerPlan(config, shape, shape, 2 * features * features + (2 * features if config["bias"] else 0),
                     mask_in, False)


def _maxout_dense(config: dict, shape: Shape, mask_in: bool) -> LayerPlan:
    _need_ndim(config, shape, (2,), "(batch, features)")
    pieces, units = config["nb_feature"], config["output_dim"]
    params = pieces * shape[1] * units + (pieces * units if config["bias"] else 0)
    return LayerPlan(config, shape, (shape[0], units), params, mask_in, False)


_HANDLERS.update({
    "LeakyReLU": _dropout_like,
    "ELU": _dropout_like,
    "PReLU": _prelu,
    "SpatialDropout1D": _spatial_dropout,
    "Highway": _highway,
    "MaxoutDense": _maxout_dense,
    "BatchNormalization": _batch_normalization,
    "InputLayer": _input_layer,
    "Reshape": _reshape,
    "Permute": _permute,
    "Convolution1D": _convolution1d,
    "MaxPooling1D": _pooling1d,
    "AveragePooling1D": _pooling1d,
    "GlobalMaxPooling1D": _global_pooling1d,
    "GlobalAveragePooling1D": _global_pooling1d,
})
