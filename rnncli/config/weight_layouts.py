"""The layouts of Keras 1 weight lists: what each layer accepts (fused or per gate) and the conversion to the fused
``[W, U, b]`` rnncli stores (gate blocks i, f, c, o for LSTM; z, r, h for GRU), whatever the ``consume_less`` mode.
LSTM per-gate lists are 12 arrays in Keras 1's storage order i, c, f, o; GRU 9 arrays z, r, h.
"""

from __future__ import annotations

from typing import Any

from rnncli.config.plan import GATES, LayerPlan

# Keras 1 per-gate weight-list order, and the fused block order it maps to.
PER_GATE_STORAGE = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "c", "f", "o")}
FUSED_ORDER = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "f", "c", "o")}


def match_weight_layout(name: str, arrays: list, layouts: list[list[tuple]]) -> str | None:
    """None if ``arrays`` fits one of ``layouts``; else a message naming the index and the shapes."""
    shapes = [tuple(a.shape) for a in arrays]
    if shapes in [list(layout) for layout in layouts]:
        return None
    counts = sorted({len(layout) for layout in layouts})
    same_count = [layout for layout in layouts if len(layout) == len(shapes)]
    if not same_count:
        return (f"layer `{name}` expects {' or '.join(map(str, counts))} arrays, the file has {len(shapes)} "
                f"(shapes {shapes})")
    layout = same_count[0]
    for index, (want, got) in enumerate(zip(layout, shapes)):
        if tuple(want) != got:
            return f"layer `{name}`: array {index} has shape {got}, expected {tuple(want)}"
    return f"layer `{name}`: shapes {shapes} do not match {layout}"


def expected_weight_shapes(plan: LayerPlan) -> list[list[tuple[int, ...]]]:
    """The accepted layouts of a layer's Keras 1 weight list (each a list of array shapes)."""
    config = plan.config
    kind = config["type"]
    if kind in GATES:
        if config.get("reset_after"):  # Keras 2/3 layout only: [W, U, b] with b [2, 3u] (input, recurrent bias)
            features, units = plan.input_shape[-1], config["output_dim"]
            return [[(features, 3 * units), (units, 3 * units), (2, 3 * units)]]
        return _recurrent_layouts(kind, plan.input_shape[-1], config["output_dim"])
    if kind == "Dense":
        w = (plan.input_shape[-1], config["output_dim"])
        return [[w, (config["output_dim"],)]] if config["bias"] else [[w]]
    if kind == "Embedding":
        return [[(config["input_dim"], config["output_dim"])]]
    if kind == "PReLU":
        from rnncli.config.plan import prelu_alpha_shape

        return [[prelu_alpha_shape(config, plan.input_shape)]]
    if kind == "Highway":
        features = plan.input_shape[-1]
        return [[(features, features)] * 2 + ([(features,)] * 2 if config["bias"] else [])]
    if kind == "MaxoutDense":
        pieces, units = config["nb_feature"], config["output_dim"]
        return [[(pieces, plan.input_shape[-1], units)] + ([(pieces, units)] if config["bias"] else [])]
    if kind == "BatchNormalization":  # [gamma], [beta], moving mean, moving variance
        features = (plan.input_shape[-1],)
        return [[features] * (2 + int(config["center"]) + int(config["scale"]))]
    if kind == "Bidirectional":
        one = expected_weight_shapes(plan.inner)
        return [a + b for a in one for b in one if len(a) == len(b)]
    if kind == "TimeDistributed":
        return expected_weight_shapes(plan.inner)
    if kind == "Convolution1D":
        length, features, filters = config["filter_length"], plan.input_shape[-1], config["nb_filter"]
        bias = [(filters,)] if config["bias"] else []
        # Keras 1.1+ stores (L, 1, D, F) (a conv2d kernel); Keras 1.0.x (F, D, L, 1); rnncli (L, D, F)
        return [[(length, 1, features, filters)] + bias, [(filters, features, length, 1)] + bias,
                [(length, features, filters)] + bias]
    return [[]]


def _recurrent_layouts(kind: str, features: int, units: int) -> list[list[tuple[int, ...]]]:
    gates = GATES[kind]
    fused = [(features, gates * units), (units, gates * units), (gates * units,)]
    if gates == 1:
        return [fused]
    per_gate = [(features, units), (units, units), (units,)] * gates
    return [fused, per_gate]


def weights_to_fused(kind: str, arrays: list[Any]) -> list[Any]:
    """Convert a Keras 1 weight list (fused or per gate) into fused ``[W, U, b]`` with blocks in compute order.

    LSTM per-gate storage order is i, c, f, o; the fused blocks are i, f, c, o. GRU is z, r, h in both.
    """
    import numpy as np

    gates = GATES[kind]
    if len(arrays) == 3:
        return list(arrays)
    storage = PER_GATE_STORAGE[kind]
    by_gate = {g: arrays[3 * i: 3 * i + 3] for i, g in enumerate(storage)}
    order = FUSED_ORDER[kind]
    assert len(arrays) == 3 * gates
    return [np.concatenate([by_gate[g][part] for g in order], axis=-1) for part in range(3)]


def cudnn_kernel_to_keras(kernel: Any, gates: int) -> Any:
    """A CuDNN layer's input kernel [D, G*u] as the Keras LSTM/GRU kernel computing the same function: each gate
    block ``k`` [D, u] becomes ``k.T.reshape(k.shape, order="F")``, as tf.keras 2's loader converts it
    (``saving/hdf5_format._convert_rnn_weights``: Keras [[0, 1, 2], [3, 4, 5]] <-> CuDNN [[0, 2, 4], [1, 3, 5]])."""
    import numpy as np

    return np.hstack([k.T.reshape(k.shape, order="F") for k in np.hsplit(np.asarray(kernel), gates)])


def from_cudnn(kind: str, arrays: list[Any]) -> list[Any] | None:
    """``[W, U, b]`` of a ``CuDNNLSTM`` (b [8u]: input biases i, f, c, o then recurrent ones) or ``CuDNNGRU``
    (b [6u], z, r, h) as rnncli's LSTM ``[W [D, 4u], U [u, 4u], b [4u]]`` (biases summed) or reset-after GRU
    ``[W [D, 3u], U [u, 3u], b [2, 3u]]``; None when ``arrays`` is not laid out as a CuDNN layer stores it.

    Recurrent kernels are transposed per gate block, input kernels converted by ``cudnn_kernel_to_keras``.
    """
    import numpy as np

    gates = {"LSTM": 4, "GRU": 3}.get(kind)
    if gates is None or len(arrays) != 3:
        return None
    kernel, recurrent, bias = (np.asarray(a) for a in arrays)
    units = recurrent.shape[0] if recurrent.ndim == 2 else 0
    if bias.shape != (2 * gates * units,) or recurrent.shape != (units, gates * units) or kernel.ndim != 2:
        return None
    kernel = cudnn_kernel_to_keras(kernel, gates)
    recurrent = np.hstack([k.T for k in np.hsplit(recurrent, gates)])
    bias = bias.reshape(2, gates * units)
    return [kernel, recurrent, bias.sum(axis=0) if kind == "LSTM" else bias]
