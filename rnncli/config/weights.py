"""Keras 1 weight lists (`weights:` files): reading them, the layouts each layer accepts, and conversion.

A `weights:` file is an `.npz` written with `np.savez(path, *arrays)`, or a Keras 1 `.h5` (`save_weights()` or
`model.save()`; the layer group with the layer's name, or the file's only layer with weights). Recurrent layers
accept the fused list ``[W, U, b]`` (gate blocks i, f, c, o for LSTM; z, r, h for GRU) or the per-gate list (LSTM 12
arrays in Keras 1's storage order i, c, f, o; GRU 9 arrays z, r, h); rnncli stores the fused form whatever the
``consume_less`` mode.
"""

from __future__ import annotations

from typing import Any

from rnncli.config.plan import GATES, LayerPlan

# Keras 1 per-gate weight-list order, and the fused block order it maps to.
PER_GATE_STORAGE = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "c", "f", "o")}
FUSED_ORDER = {"SimpleRNN": ("",), "GRU": ("z", "r", "h"), "LSTM": ("i", "f", "c", "o")}


def read_weight_arrays(path: str, layer_names: tuple[str, ...] = ()) -> list:
    """The arrays of a weights `.npz` in `np.savez(path, *arrays)` order (arr_0, arr_1, ...), or of the layer
    group called one of ``layer_names`` in a Keras 1 `.h5` (by position in its `weight_names`)."""
    import zipfile

    import numpy as np

    from rnncli.keras1.hdf5 import Keras1FileError, is_hdf5

    if is_hdf5(path):
        from rnncli.keras1.weights import read_layer_weights

        try:
            return read_layer_weights(path, layer_names)
        except Keras1FileError as exc:
            raise ValueError(str(exc).removeprefix(f"{path}: ")) from None
    try:
        with np.load(path, allow_pickle=False) as archive:
            names = list(archive.files)
            if all(n.startswith("arr_") and n[4:].isdigit() for n in names):
                names.sort(key=lambda n: int(n[4:]))
            return [np.asarray(archive[n], dtype=np.float32) for n in names]
    except (OSError, ValueError, zipfile.BadZipFile, EOFError) as exc:
        raise ValueError(f"cannot read {path} as an .npz of float arrays ({exc})") from None


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
        return _recurrent_layouts(kind, plan.input_shape[-1], config["output_dim"])
    if kind == "Dense":
        w = (plan.input_shape[-1], config["output_dim"])
        return [[w, (config["output_dim"],)]] if config["bias"] else [[w]]
    if kind == "Embedding":
        return [[(config["input_dim"], config["output_dim"])]]
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
