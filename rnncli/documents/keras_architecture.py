"""Keras architecture documents as they exist in the wild, reduced to the Keras 1 ``Sequential`` rnncli reads.

Accepted: Keras 1.0-1.2 ``to_json()``/``to_yaml()`` documents (``config`` as a list or ``{name, layers}``), the
``config`` of a ``model.save()`` file, ``TimeDistributedDense`` (= ``TimeDistributed(Dense)``), and functional
``Model`` documents whose graph is one chain from one input to one output (converted to the Sequential they are;
the ``InputLayer``'s shape moves onto the first layer). Refused with one message naming the layer and the reason:
``Lambda`` (Python code), ``Merge`` and any layer with several inputs, shared layers, nested models, several
model inputs or outputs, branches. Documents of other Keras versions (0.3's top-level ``layers``; Keras 2/3's
``units``, ``kernel_initializer``, ``keras_version: 2.x``) are recognised up front (``keras_generation``): Keras 2
ones are converted by ``rnncli.documents.keras2`` where their math is Keras 1's, the others refused with one line.

Every function here works on the ``MarkedDict``/``MarkedList`` values of ``rnncli.documents.yaml_loader`` (or plain
JSON values) and keeps the marks, so later errors still point into the user's file. Pure Python: no TensorFlow.
"""

from __future__ import annotations

from typing import Any

from rnncli.documents.yaml_loader import MarkedDict, MarkedList

_CODE_LAYERS = {"Lambda": "holds Python code (a serialised function), which rnncli never runs",
                "Merge": "merges several tensors; rnncli models are a single chain of layers",
                "Siamese": "runs a layer on several inputs; rnncli models are a single chain of layers",
                "Graph": "is a Keras 1 Graph container; rnncli models are a single chain of layers"}
_NESTED = ("Sequential", "Model", "Container")
# Keras 2/3 argument names that Keras 1 never wrote (each layer type renamed its arguments in Keras 2)
_KERAS2_KEYS = ("units", "kernel_initializer", "recurrent_initializer", "kernel_regularizer", "recurrent_dropout",
                "use_bias", "filters", "kernel_size", "pool_size", "implementation", "unit_forget_bias",
                "bias_initializer", "embeddings_initializer")
_READS = ("rnncli reads Keras 1 (1.0-1.2) `to_json()`/`to_yaml()` documents and model.save() files; load the model "
          "in that Keras version and save it from there, or write it as an rnncli config")


class Refusal(Exception):
    """The document cannot become an rnncli model; ``node``/``key`` locate the reason in the file."""

    def __init__(self, message: str, node: Any = None, key: Any = None):
        super().__init__(message)
        self.node, self.key = node, key


def _marked(value: dict, like: Any) -> MarkedDict:
    out = MarkedDict(value)
    out.mark = getattr(like, "mark", MarkedDict.mark)
    out.marks = {k: getattr(like, "where", lambda _k: out.mark)(k) for k in value}
    return out


def keras_generation(doc: Any) -> str | None:
    """``"0.3"``, ``"2"`` or ``"3"`` when ``doc`` is a document of that Keras generation; None for Keras 1 (or not
    a Keras document at all)."""
    if not isinstance(doc, dict):
        return None
    version = str(doc.get("keras_version") or "")
    layers = doc.get("layers")
    if isinstance(layers, list) and layers and "class_name" not in doc and "model" not in doc and all(
            isinstance(e, dict) and "name" in e and "type" not in e for e in layers):
        return "0.3"  # Keras 0.3: layer types under `name` (an rnncli config says `type`)
    if version[:1] in ("2", "3"):
        return version[:1]
    if "class_name" in doc and "config" in doc:
        if "module" in doc or "registered_name" in doc:
            return "3"
        for layer in _all_layers(doc):
            config = layer.get("config") if isinstance(layer, dict) else None
            if isinstance(config, dict) and any(k in config for k in _KERAS2_KEYS):
                return "3" if "module" in layer or "registered_name" in layer else "2"
    return None


def foreign_version(doc: Any) -> Refusal | None:
    """A one-line refusal when ``doc`` is a Keras 0.3, 2 or 3 document, else None."""
    generation = keras_generation(doc)
    if generation is None:
        return None
    if generation == "0.3":
        return Refusal("this is a Keras 0.3 document (a top-level `layers` list, layer types under `name`); " + _READS,
                       doc, "layers")
    version = str(doc.get("keras_version") or "")
    if version:
        return Refusal(f"this is a Keras {version} document (keras_version {version}); " + _READS, doc,
                       "keras_version")
    for layer in _all_layers(doc):
        config = layer.get("config") if isinstance(layer, dict) else None
        found = [k for k in _KERAS2_KEYS if isinstance(config, dict) and k in config]
        if found:
            return Refusal(f"this is a Keras {generation} document (layer `{config.get('name', '?')}` has Keras "
                           f"{generation} argument `{found[0]}`); " + _READS, config, found[0])
    return Refusal(f"this is a Keras {generation} document; " + _READS, doc, "class_name")


def _all_layers(doc: dict) -> list:
    config = doc.get("config")
    layers = config.get("layers") if isinstance(config, dict) else config
    result = []
    for layer in layers if isinstance(layers, list) else []:
        result.append(layer)
        inner = layer.get("config", {}).get("layer") if isinstance(layer, dict) and isinstance(
            layer.get("config"), dict) else None
        if isinstance(inner, dict):
            result.append(inner)
    return result


def to_sequential_entries(doc: dict) -> list:
    """The Keras 1 layer entries (``{class_name, config}``) of a Sequential or single-chain functional document.

    Raises ``Refusal`` with one message naming the layer and why.
    """
    kind = doc.get("class_name")
    config = doc.get("config")
    if kind == "Sequential":
        entries = config.get("layers") if isinstance(config, dict) else config
        if not isinstance(entries, list) or not entries:
            raise Refusal("model.config must be a non-empty list of layers (or `{name, layers}`)", doc, "config")
        _refuse_special(entries)
        return [_expand(entry) for entry in entries]
    if kind in ("Model", "Functional"):
        if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
            raise Refusal("a functional `Model` document needs `config: {layers, input_layers, output_layers}`",
                          doc, "config")
        return [_expand(entry) for entry in _chain(config)]
    raise Refusal(f"model: `class_name: {kind}` is not a Keras 1 model document; expected `Sequential` or a "
                  f"functional `Model`", doc, "class_name")


def _entry_name(entry: Any) -> str:
    if isinstance(entry, dict):
        config = entry.get("config")
        if isinstance(config, dict) and config.get("name"):
            return str(config["name"])
        return str(entry.get("name") or entry.get("class_name") or "?")
    return "?"


def _refuse_special(entries: list) -> None:
    for entry in entries:
        if not isinstance(entry, dict):
            continue
        kind = entry.get("class_name")
        inner = entry.get("config", {}).get("layer") if isinstance(entry.get("config"), dict) else None
        if isinstance(inner, dict) and inner.get("class_name") in _CODE_LAYERS:
            entry, kind = inner, inner.get("class_name")
        if kind in _CODE_LAYERS:
            raise Refusal(f"layer `{_entry_name(entry)}` ({kind}) {_CODE_LAYERS[kind]}", entry, "class_name")
        if kind in _NESTED:
            raise Refusal(f"layer `{_entry_name(entry)}` is a nested model ({kind}); rnncli models are one flat "
                          f"chain of layers: save the inner model's layers in the outer one", entry, "class_name")
        if isinstance(entry.get("config"), dict) and entry["config"].get("return_state"):
            # a functional document with such a layer is read as a graph (its states are tensors `name:1`, `name:2`)
            raise Refusal(f"layer `{_entry_name(entry)}` ({kind}) has `return_state: true`; a chain passes on the "
                          f"output only (a functional model's states are read as graph tensors)", entry["config"],
                          "return_state")


def _inbound(entry: dict) -> list:
    """Keras 1 ``inbound_nodes``: a list of nodes, each a list of ``[layer_name, node_index, tensor_index]``."""
    nodes = entry.get("inbound_nodes") or []
    return [[item[0] for item in node if isinstance(item, (list, tuple)) and item] for node in nodes
            if isinstance(node, (list, tuple))]


def _chain(config: dict) -> list:
    layers = config["layers"]
    _refuse_special(layers)
    by_name = {_entry_name(e): e for e in layers if isinstance(e, dict)}
    inputs = [item[0] for item in config.get("input_layers") or [] if isinstance(item, (list, tuple)) and item]
    outputs = [item[0] for item in config.get("output_layers") or [] if isinstance(item, (list, tuple)) and item]
    if len(inputs) != 1:
        raise Refusal(f"the model has {len(inputs)} inputs ({', '.join(inputs) or 'none'}); rnncli models take one "
                      f"input", config, "input_layers")
    if len(outputs) != 1:
        raise Refusal(f"the model has {len(outputs)} outputs ({', '.join(outputs) or 'none'}); rnncli models have "
                      f"one output", config, "output_layers")
    for entry in layers:
        nodes = _inbound(entry)
        name = _entry_name(entry)
        if len(nodes) > 1:
            raise Refusal(f"layer `{name}` is applied {len(nodes)} times (a shared layer); rnncli models are a single "
                          f"chain in which each layer runs once", entry, "inbound_nodes")
        if nodes and len(nodes[0]) != 1:
            raise Refusal(f"layer `{name}` ({entry.get('class_name')}) takes {len(nodes[0])} inputs "
                          f"({', '.join(nodes[0])}); rnncli models are a single chain of layers", entry,
                          "inbound_nodes")
    order, current, seen = [], outputs[0], set()
    while True:
        entry = by_name.get(current)
        if entry is None:
            raise Refusal(f"layer `{current}` is referenced by the graph but not defined in `layers`", config,
                          "layers")
        if current in seen:
            raise Refusal(f"layer `{current}` is part of a cycle", entry, "inbound_nodes")
        seen.add(current)
        order.append(entry)
        nodes = _inbound(entry)
        if not nodes:
            break
        current = nodes[0][0]
    if _entry_name(order[-1]) != inputs[0]:
        raise Refusal(f"the chain from output `{outputs[0]}` ends at `{_entry_name(order[-1])}`, not at the model "
                      f"input `{inputs[0]}`", config, "input_layers")
    unused = [name for name in by_name if name not in seen]
    if unused:
        raise Refusal(f"layer `{unused[0]}` is not on the path from input `{inputs[0]}` to output `{outputs[0]}` "
                      f"(the graph branches); rnncli models are a single chain of layers", by_name[unused[0]],
                      "inbound_nodes")
    order.reverse()
    first = order[0]
    if first.get("class_name") == "InputLayer" and len(order) > 1:
        return _move_input_shape(first, order[1:])
    return order


def _move_input_shape(input_entry: dict, rest: list) -> list:
    """Drop the InputLayer and declare its batch shape on the first real layer (unless that layer declares one)."""
    shape = (input_entry.get("config") or {}).get("batch_input_shape")
    head = rest[0]
    config = head.get("config")
    if shape is not None and isinstance(config, dict) and config.get("batch_input_shape") is None:
        new_config = _marked(dict(config), config)
        new_config["batch_input_shape"] = shape
        new_config.marks["batch_input_shape"] = (input_entry.get("config") or input_entry).mark \
            if hasattr(input_entry.get("config"), "mark") else new_config.mark
        head = _marked(dict(head, config=new_config), head)
    return [head] + list(rest[1:])


def _expand(entry: Any) -> Any:
    """``TimeDistributedDense`` becomes ``TimeDistributed(Dense)``: the input declaration stays on the wrapper."""
    if not isinstance(entry, dict) or entry.get("class_name") != "TimeDistributedDense":
        return entry
    config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
    outer_keys = ("name", "trainable", "batch_input_shape", "input_shape", "input_dtype")
    outer = {k: v for k, v in config.items() if k in outer_keys}
    dense = {k: v for k, v in config.items() if k not in outer_keys + ("input_dim", "input_length")}
    dense["name"] = f"{config.get('name', 'timedistributeddense')}_dense"
    if config.get("input_dim") and not config.get("batch_input_shape") and not config.get("input_shape"):
        outer["batch_input_shape"] = [None, config.get("input_length"), config["input_dim"]]
    inner = _marked({"class_name": "Dense", "config": _marked(dense, config)}, entry)
    outer["layer"] = inner
    wrapped = _marked(outer, config)
    wrapped.marks["layer"] = wrapped.mark
    result = _marked({"class_name": "TimeDistributed", "config": wrapped}, entry)
    return result


def training_from_keras(doc: dict, training_config: dict | None = None) -> tuple[dict | None, list[str]]:
    """rnncli's ``training:`` mapping from Keras 1.0.x top-level ``loss``/``optimizer``/``sample_weight_mode`` or a
    full-model file's ``training_config``; plus notices about what could not be carried over. None if no loss."""
    notes: list[str] = []
    if training_config is not None:
        loss = training_config.get("loss")
        optimizer = training_config.get("optimizer_config")
        metrics = training_config.get("metrics") or []
        sample_weight_mode = training_config.get("sample_weight_mode")
        if training_config.get("loss_weights") not in (None, [], {}):
            notes.append("training_config.loss_weights dropped: it only matters for several outputs")
    else:
        loss, optimizer, metrics = doc.get("loss"), doc.get("optimizer"), []
        sample_weight_mode = doc.get("sample_weight_mode")
    if loss is None:
        return None, notes
    if isinstance(loss, (dict, list)):
        raise Refusal(f"the model was compiled with one loss per output ({loss!r}); rnncli models have one output",
                      doc, "loss")
    training: dict[str, Any] = {"loss": loss}
    if isinstance(metrics, dict):
        metrics = [m for values in metrics.values() for m in (values if isinstance(values, list) else [values])]
    if metrics:
        training["metrics"] = list(metrics)
    if optimizer is not None:
        training["optimizer"] = _optimizer(optimizer, notes)
    if sample_weight_mode == "temporal":
        notes.append("sample_weight_mode `temporal`: rnncli weighs timesteps by the output mask (per-timestep sample "
                     "weights are not supported)")
    return training, notes


# Keras 2.11+ / Keras 3 optimizer settings, with the value that leaves Keras 1's update rule unchanged
_NEUTRAL_OPTIMIZER_SETTINGS = {"weight_decay": (None, 0, 0.0), "global_clipnorm": (None,), "use_ema": (False,),
                               "loss_scale_factor": (None, 1, 1.0), "gradient_accumulation_steps": (None, 1),
                               "clipnorm": (None,), "clipvalue": (None,), "centered": (False,),
                               "jit_compile": (True, False), "is_legacy_optimizer": (True, False)}


def _drop_neutral_keras3_settings(args: dict) -> None:
    """Remove the Keras 2.11+/3 optimizer settings that are at their neutral value; refuse any other value."""
    if args.get("use_ema") in (False, None):
        args.pop("ema_momentum", None)
        args.pop("ema_overwrite_frequency", None)
    if args.get("momentum") in (0, 0.0) and "rho" in args:  # Keras 2/3 RMSprop without momentum
        args.pop("momentum")
    for key, neutral in _NEUTRAL_OPTIMIZER_SETTINGS.items():
        if key in args:
            if args[key] not in neutral:
                raise Refusal(f"the optimizer has `{key}: {args[key]!r}`, which rnncli's Keras 1 optimizers do not "
                              f"have (only {neutral[0]!r} imports)")
            del args[key]


def _optimizer(value: Any, notes: list[str]) -> Any:
    """Keras 1 ``{class_name, config}`` (training_config) or 1.0.x ``{name: Adam, lr: ...}`` -> ``{name: adam, ...}``.

    Keras 1 stored the hyperparameters as float32 values (``0.0010000000474974513``); they are written back as the
    shortest decimal that rounds to the same float32 (``0.001``), the value the user gave.
    """
    import numpy as np

    if isinstance(value, str):
        return value.lower()
    if not isinstance(value, dict):
        return value
    if "class_name" in value:
        name, args = value.get("class_name"), dict(value.get("config") or {})
    else:
        args = dict(value)
        name = args.pop("name", None)
    if isinstance(name, str) and ">" in name:  # tf-keras 2.11+: `Custom>Adam`
        name = name.rsplit(">", 1)[-1]
    result: dict[str, Any] = {"name": str(name).lower() if name is not None else name}
    if "learning_rate" in args:  # Keras 2.3+ / tf.keras names
        args["lr"] = args.pop("learning_rate")
    args.pop("name", None)
    _drop_neutral_keras3_settings(args)
    if args.pop("amsgrad", False):
        raise Refusal("the optimizer uses `amsgrad: true`, which Keras 1 (and rnncli) does not have")
    for key, arg in args.items():
        if isinstance(arg, float):
            arg = float(str(np.float32(arg)))
        result[key] = arg
    return result
