"""Keras 3 model documents (``.keras`` ``config.json``, the ``model_config`` of a Keras 3 legacy ``.h5``) rewritten
as the Keras 2 documents they correspond to, for ``rnncli.documents.keras2`` to convert further.

Keras 3 kept Keras 2's argument names and wraps every object as ``{module, class_name, config, registered_name,
build_config}``: those wrappers are dropped, dtype policies become their name, ``InputLayer``'s ``batch_shape``
becomes ``batch_input_shape`` and a Bidirectional's ``backward_layer`` (always written by Keras 3) is dropped when it
is the forward layer run backwards, as Keras 1 ran it. A functional model's ``inbound_nodes`` (Keras 3: ``{args,
kwargs}`` with each tensor a ``__keras_tensor__`` whose ``keras_history`` is ``[layer, node_index, tensor_index]``)
become Keras 2's lists of ``[layer, node_index, tensor_index, {}]``: the tensors of ``args`` in order (a merge's
list flattened), then those of an ``initial_state`` call argument, as Keras 2 serialised a recurrent layer called
with ``initial_state``. Pure Python: no TensorFlow.

Example::

    >>> doc = {"module": "keras", "class_name": "Sequential", "config": {"name": "s", "layers": [
    ...     {"module": "keras.layers", "class_name": "InputLayer", "config": {"batch_shape": [None, 5, 3]}},
    ...     {"module": "keras.layers", "class_name": "GRU", "config": {"name": "gru", "units": 4,
    ...      "dtype": {"module": "keras", "class_name": "DTypePolicy", "config": {"name": "float32"}}}}]}}
    >>> out = from_keras3(doc)
    >>> out["keras_version"], out["config"]["layers"][0]["config"], out["config"]["layers"][1]["config"]["dtype"]
    ('3', {'batch_input_shape': [None, 5, 3]}, 'float32')
"""

from __future__ import annotations

from typing import Any

from rnncli.documents.keras_architecture import Refusal

_WRAPPER_KEYS = ("module", "registered_name", "build_config", "shared_object_id", "compile_config")
# keys a Keras 3 layer writes that say nothing about the function it computes (or that Keras 2 did not have)
_DROPPED = ("quantization_config", "optional", "seed", "lora_rank", "lora_alpha")


def from_keras3(doc: dict) -> dict:
    """The Keras 2 form of the Keras 3 document ``doc`` (its ``keras_version`` kept, else ``"3"``)."""
    out = _strip(doc)
    out["keras_version"] = str(doc.get("keras_version") or "3")
    config = out.get("config")
    if isinstance(config, dict) and isinstance(config.get("layers"), list):
        config["layers"] = [_layer(entry) for entry in config["layers"]]
        for key in ("input_layers", "output_layers"):
            refs = config.get(key)
            if isinstance(refs, list) and refs and isinstance(refs[0], str):
                config[key] = [refs]  # one input or output: Keras 3 writes `[name, 0, 0]`, Keras 2 a list of them
    return out


def _strip(value: Any) -> Any:
    """Drop the Keras 3 serialization wrappers everywhere; a dtype policy becomes its dtype name."""
    if isinstance(value, list):
        return [_strip(v) for v in value]
    if not isinstance(value, dict):
        return value
    if value.get("class_name") in ("DTypePolicy", "FloatDTypePolicy") and isinstance(value.get("config"), dict):
        return value["config"].get("name", "float32")
    return {k: _strip(v) for k, v in value.items() if k not in _WRAPPER_KEYS}


def _layer(entry: Any) -> Any:
    if not isinstance(entry, dict) or not isinstance(entry.get("config"), dict):
        return entry
    kind, config = entry.get("class_name"), dict(entry["config"])
    if isinstance(entry.get("inbound_nodes"), list):
        entry = dict(entry, inbound_nodes=[_node(node, entry) for node in entry["inbound_nodes"]])
    for key in _DROPPED:
        config.pop(key, None)
    if kind == "InputLayer" and "batch_shape" in config:
        config["batch_input_shape"] = config.pop("batch_shape")
    if kind in ("Bidirectional", "TimeDistributed") and isinstance(config.get("layer"), dict):
        config["layer"] = _layer(config["layer"])
        backward = config.pop("backward_layer", None)
        if isinstance(backward, dict):
            backward = _layer(backward)
            if not _mirrors(config["layer"], backward):
                raise Refusal(f"Keras 3 layer `{config.get('name', kind)}` (Bidirectional) has a `backward_layer` "
                              f"that is not its forward layer run backwards; Keras 1 and rnncli run a copy of the "
                              f"forward layer", entry["config"], "backward_layer")
    return dict(entry, config=config)


def _node(node: Any, entry: dict) -> Any:
    """A Keras 3 node ``{args, kwargs}`` as Keras 2's list of ``[layer, node_index, tensor_index, {}]``."""
    if not isinstance(node, dict) or "args" not in node:
        return node
    kwargs = node.get("kwargs") if isinstance(node.get("kwargs"), dict) else {}
    for key, value in kwargs.items():
        if key != "initial_state" and _tensors(value):
            name = entry["config"].get("name", entry.get("class_name"))
            raise Refusal(f"Keras 3 layer `{name}` is called with a tensor as `{key}`; rnncli reads tensors as "
                          f"inputs and as `initial_state` only", entry, "inbound_nodes")
    return [[*ref, {}] for ref in _tensors(node["args"]) + _tensors(kwargs.get("initial_state"))]


def _tensors(value: Any) -> list[list]:
    """The ``keras_history`` of every Keras tensor in ``value`` (nested lists, tuples and dicts), in order."""
    if isinstance(value, dict):
        history = value.get("config", {}).get("keras_history") if isinstance(value.get("config"), dict) else None
        if value.get("class_name") == "__keras_tensor__" and isinstance(history, list):
            return [list(history[:3])]
        return [ref for v in value.values() for ref in _tensors(v)]
    if isinstance(value, (list, tuple)):
        return [ref for v in value for ref in _tensors(v)]
    return []


def _mirrors(forward: dict, backward: dict) -> bool:
    """Whether ``backward`` is ``forward`` with ``go_backwards`` flipped (names aside)."""
    def key(layer: dict, flip: bool) -> tuple:
        config = {k: v for k, v in layer.get("config", {}).items() if k != "name"}
        config["go_backwards"] = bool(config.get("go_backwards", False)) != flip
        return layer.get("class_name"), sorted((k, repr(v)) for k, v in config.items())

    return key(forward, False) == key(backward, True)
