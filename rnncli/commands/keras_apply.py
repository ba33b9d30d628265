"""Put Keras 1 weight lists (and optimizer slots) into a built rnncli ``Sequential`` (TensorFlow side of the import).

The lists come from ``rnncli.config.keras_weights.match_file_to_plan`` (already checked against the plan), in Keras 1's
layout: recurrent layers per gate or fused (both become rnncli's fused variables), Bidirectional as the forward list
then the backward list, TimeDistributed as its inner layer's list. ``variable_pairs`` does that conversion once, for
weights and for optimizer slots alike (a slot has its variable's shape, so it converts the same way).
"""

from __future__ import annotations

import numpy as np
import tensorflow as tf

from rnncli.config.weight_layouts import weights_to_fused
from rnncli.layers.base import Layer
from rnncli.layers.recurrent import RECURRENT_LAYERS

# Keras 1.2.2 `Optimizer.weights` order: optional `iterations`, then one list per slot over the trainable weights
KERAS1_OPTIMIZER_WEIGHTS = {
    "sgd": (True, ("moments",)),
    "rmsprop": (False, ("accumulators",)),
    "adagrad": (False, ("accumulators",)),
    "adadelta": (False, ("accumulators", "delta_accumulators")),
    "adam": (True, ("m", "v")),
    "adamax": (True, ("m", "u")),
}


def variable_pairs(built: Layer, arrays: list[np.ndarray]) -> list[tuple[tf.Variable, np.ndarray]]:
    """(variable, value) pairs for one Keras 1 list (per gate or fused; any wrapper; any ``consume_less``)."""
    kind = built.config["type"]
    if kind in RECURRENT_LAYERS:
        return list(zip(built.weight_variables(), weights_to_fused(kind, arrays)))
    if kind == "Bidirectional":
        inner = built.config["layer"]["type"]
        half = len(arrays) // 2
        return (list(zip(built.forward.weight_variables(), weights_to_fused(inner, arrays[:half])))
                + list(zip(built.backward.weight_variables(), weights_to_fused(inner, arrays[half:]))))
    if kind == "TimeDistributed":
        return variable_pairs(built.inner, arrays)
    if kind == "Convolution1D" and arrays:
        arrays = [built.keras1_kernel(arrays[0])] + list(arrays[1:])
    return list(zip(built.weight_variables(), arrays))


def set_model_weights(model: object, by_name: dict[str, list[np.ndarray]]) -> None:
    """Load ``{layer name: Keras 1 weight list}`` into the layers of an rnncli ``Sequential`` of the same plan."""
    for layer in model.layers:
        if layer.layer_name in by_name:
            for variable, value in variable_pairs(layer, by_name[layer.layer_name]):
                if tuple(variable.shape) != tuple(np.shape(value)):
                    raise ValueError(f"layer `{layer.layer_name}`: array of shape {np.shape(value)} for variable "
                                     f"{variable.name} of shape {tuple(variable.shape)}")
                variable.assign(np.asarray(value, np.float32))


def set_optimizer_state(model: object, optimizer: object, optimizer_name: str, by_name: dict[str, list[np.ndarray]],
                        arrays: list[tuple[str, np.ndarray]], iterations_first: bool = False) -> str | None:
    """Load Keras 1 ``optimizer_weights`` into the rnncli optimizer's slots when the mapping is exact.

    ``iterations_first``: the list starts with the iteration count whatever the optimizer (Keras 2/3 state
    rearranged by ``keras2_optimizer_arrays``). Returns None on success, else the reason the state was dropped
    (nothing is assigned then).
    """
    layout = KERAS1_OPTIMIZER_WEIGHTS.get(optimizer_name)
    if layout is None:
        return f"rnncli has no exact mapping of Keras 1 `{optimizer_name}` optimizer weights"
    has_iterations, slot_names = layout
    has_iterations = has_iterations or iterations_first
    trainable = [layer for layer in model.layers if layer.layer_name in by_name and layer.trainable]
    sizes = [len(by_name[layer.layer_name]) for layer in trainable]
    total = sum(sizes)
    values = [np.asarray(a) for _, a in arrays]
    expected = len(slot_names) * total + int(has_iterations)
    if len(values) != expected:
        return (f"the file holds {len(values)} optimizer arrays, Keras 1 `{optimizer_name}` over {total} trainable "
                f"arrays has {expected}")
    iterations = None
    if has_iterations:
        iterations, values = values[0], values[1:]
        if iterations.size != 1:
            return f"the first optimizer array should be the iteration count, got shape {iterations.shape}"
    keys = {id(v): key for key, v in model.trainable_by_path().items()}
    assignments = []
    for slot_index, slot in enumerate(slot_names):
        chunk = values[slot_index * total:(slot_index + 1) * total]
        offset = 0
        for layer, size in zip(trainable, sizes):
            part = chunk[offset:offset + size]
            offset += size
            if [a.shape for a in part] != [a.shape for a in by_name[layer.layer_name]]:
                return (f"optimizer arrays for layer `{layer.layer_name}` have shapes {[a.shape for a in part]}, its "
                        f"weights {[a.shape for a in by_name[layer.layer_name]]}")
            for variable, value in variable_pairs(layer, part):
                slot_key = optimizer._refs.slot_keys[keys[id(variable)]]
                assignments.append((optimizer.slots[slot][slot_key], value))
    for variable, value in assignments:
        variable.assign(np.asarray(value, np.float32))
    if iterations is not None:
        optimizer.iterations.assign(int(np.asarray(iterations).reshape(())))
    return None


def get_layer_weights(built: Layer) -> list[np.ndarray]:
    """The layer's weights as a Keras 1 list in the fused layout (Bidirectional: forward then backward)."""
    kind = built.config["type"]
    if kind == "Bidirectional":
        return built.forward.get_weights() + built.backward.get_weights()
    if kind == "TimeDistributed":
        return get_layer_weights(built.inner)
    return built.get_weights()


# Slots per variable of the optimizers Keras 2.0+ (OptimizerV2, tf-keras) and Keras 3 write, in their per-variable
# order, and the rnncli slot (Keras 1's) each one is: the update rules are the same (Adam m/v with t = iterations
# + 1, RMSprop's velocity, SGD's momentum m = momentum * m - lr * g)
PER_VARIABLE_SLOTS = {"adam": ("m", "v"), "rmsprop": ("accumulators",), "sgd": ("moments",)}
_SLOTTED_NAMES = ("/m/", "/v/", "/m:", "/v:", "_momentum", "_velocity", "/rms:", "/momentum:", "optimizer/vars/",
                  "/velocity/", "/momentum/")


def keras2_optimizer_arrays(optimizer_name: str, arrays: list[tuple[str, np.ndarray]]
                            ) -> tuple[list[tuple[str, np.ndarray]] | None, str | None]:
    """Optimizer variables as Keras 2.0+/3 save them (leading scalars: the iteration count, Keras 3's learning rate;
    then every trainable variable's slots, interleaved) rearranged in Keras 1's layout (iterations, then one block
    per slot over all variables), for ``set_optimizer_state``. ``(arrays, None)``, or ``(None, reason)``."""
    slots = PER_VARIABLE_SLOTS.get(optimizer_name)
    if slots is None:
        return None, f"rnncli maps Keras 2/3 optimizer state for adam, rmsprop and sgd only, not `{optimizer_name}`"
    names = [name for name, _ in arrays]
    if not any(any(marker in name for marker in _SLOTTED_NAMES) for name in names):
        return None, "Keras 2.0-2.2 optimizer weights (another layout)"
    scalars = 0
    while scalars < len(arrays) and np.ndim(arrays[scalars][1]) == 0:
        scalars += 1
    if scalars == 0:
        return None, "no iteration count among the optimizer weights"
    rest = arrays[scalars:]
    if len(rest) % len(slots):
        return None, f"{len(rest)} slot arrays do not divide into {len(slots)} per variable"
    blocks = [rest[i::len(slots)] for i in range(len(slots))]
    return [arrays[0]] + [item for block in blocks for item in block], None
