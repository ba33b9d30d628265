"""Keras 1 model documents that are graphs, as an rnncli graph ``model:`` section (``inputs``, ``layers``,
``outputs``).

Read: functional ``Model`` documents (``input_layers``, ``output_layers``, each layer's ``inbound_nodes``: a list
of nodes, each a list of ``[layer, node_index, tensor_index(, kwargs)]``), Keras 1 ``Merge`` layers, shared layers
(a layer with several nodes: node 0 is the layer, node k an entry ``{share: layer, name: layer_nodek}``), nested
``Model``/``Sequential`` layers (inlined: their inputs become the tensors the outer node feeds them), recurrent nodes
with extra inputs (``initial_state``, as Keras 2 serialises them and ``rnncli.documents.keras3`` rewrites Keras 3's
``kwargs``, or as the node's call argument ``{initial_state: [...]}``), recurrent layers with ``return_state``
(Keras' tensor indices 1 and 2 are rnncli's ``name:1``, ``name:2``; each node of a shared one returns them), and a
``Sequential`` whose first layer is a ``Merge`` of Sequential branches (each branch's input is called ``<its first
layer>_input``, as Keras 1 named it).
The layers keep the document's order, so weights load by position as Keras loads them. ``Lambda`` and unknown
layers are refused by the layer validation in one line.
"""

from __future__ import annotations

from typing import Any

from rnncli.config.keras1 import _convert
from rnncli.config.values import Diagnostics, where
from rnncli.documents.keras_architecture import Refusal, to_sequential_entries
from rnncli.documents.yaml_loader import MarkedDict, MarkedList

_NESTED = ("Model", "Sequential", "Functional")
_MERGE_KEYS = ("name", "mode", "concat_axis", "dot_axes", "trainable")
_MERGE_IGNORED = ("output_shape", "output_mask", "mode_type", "arguments", "node_indices", "tensor_indices",
                  "output_shape_type", "output_mask_type", "layers")


def is_keras_graph_document(doc: Any) -> bool:
    """Whether a Keras document is a graph (the chain reader would refuse it for its structure)."""
    if not isinstance(doc, dict):
        return False
    kind, config = doc.get("class_name"), doc.get("config")
    if kind in ("Model", "Functional") and isinstance(config, dict) and isinstance(config.get("layers"), list):
        try:
            to_sequential_entries(doc)
        except Refusal as exc:
            return "Lambda" not in str(exc)
        return False
    if kind == "Sequential":
        layers = config.get("layers") if isinstance(config, dict) else config
        return isinstance(layers, list) and any(
            isinstance(e, dict) and e.get("class_name") in ("Merge",) + _NESTED for e in layers)
    return False


def _marked(value: dict, like: Any) -> MarkedDict:
    out = MarkedDict(value)
    out.mark = getattr(like, "mark", MarkedDict.mark)
    out.marks = {k: (like.where(k) if isinstance(like, MarkedDict) and k in like else out.mark) for k in value}
    return out


class _Graph:
    """The section being built: inputs, layer mappings, and the tensor name of each Keras (layer, node, tensor)."""

    def __init__(self, diags: Diagnostics):
        self.diags = diags
        self.inputs: dict[str, dict] = {}
        self.layers: list[MarkedDict] = []
        self.alias: dict[tuple[str, int, int], str] = {}

    def tensor(self, ref: Any, entry: Any) -> str:
        if not isinstance(ref, (list, tuple)) or not ref or not isinstance(ref[0], str):
            raise Refusal(f"inbound node entry {ref!r} is not `[layer, node_index, tensor_index]`", entry,
                          "inbound_nodes")
        name, node = ref[0], int(ref[1]) if len(ref) > 1 else 0
        index = int(ref[2]) if len(ref) > 2 else 0
        if (name, node, index) in self.alias:
            return self.alias[(name, node, index)]
        base = name if node == 0 else f"{name}_node{node}"
        return base if index == 0 else f"{base}:{index}"


def keras1_graph_section(doc: dict, diags: Diagnostics) -> MarkedDict | None:
    """The rnncli graph ``model:`` section of a Keras graph document (None after reporting a refusal)."""
    graph = _Graph(diags)
    try:
        if doc.get("class_name") == "Sequential":
            outputs = [_sequential(doc, graph, None)]
        else:
            outputs = _functional(doc.get("config"), graph, None)
    except Refusal as exc:
        diags.add(exc.node if exc.node is not None else doc, exc.key, exc.args[0])
        return None
    if graph.diags.items:
        return None
    layers = MarkedList(graph.layers)
    layers.mark, layers.marks = where(doc), {i: layer.mark for i, layer in enumerate(graph.layers)}
    inputs = MarkedDict({name: MarkedDict(spec) for name, spec in graph.inputs.items()})
    inputs.mark = where(doc)
    inputs.marks = {name: where(doc) for name in graph.inputs}
    section = MarkedDict(inputs=inputs, layers=layers, outputs=MarkedList(outputs))
    section.mark = where(doc)
    section.marks = {k: where(doc) for k in section}
    return section


def _layer(entry: dict, graph: _Graph) -> MarkedDict:
    """One Keras layer entry as an rnncli layer mapping (Merge reduced to the keys rnncli reads)."""
    config = entry.get("config")
    if entry.get("class_name") == "Merge" and isinstance(config, dict):
        if config.get("mode_type") not in (None, "raw") or not isinstance(config.get("mode", "sum"), str):
            raise Refusal(f"layer `{config.get('name')}` (Merge) merges with a Python function (mode_type "
                          f"{config.get('mode_type')}), which rnncli never runs", config, "mode")
        unknown = [k for k in config if k not in _MERGE_KEYS + _MERGE_IGNORED]
        kept = {k: v for k, v in config.items() if k in _MERGE_KEYS and v is not None}
        layer = _marked({"type": "Merge", **kept}, config)
        for key in unknown:
            layer[key] = config[key]  # reported by the validator as an unknown key of Merge
        return layer
    converted = _convert(entry, entry, "config", graph.diags)
    if converted is None:
        raise Refusal(f"layer `{(config or {}).get('name', '?')}` could not be read", entry, "config")
    return converted


def _functional(config: Any, graph: _Graph, feeds: list[str] | None) -> list[str]:
    """Add a functional model's layers; ``feeds`` are the outer tensors a nested model's inputs stand for.
    Returns the tensor names of its outputs."""
    if not isinstance(config, dict) or not isinstance(config.get("layers"), list):
        raise Refusal("a functional `Model` document needs `config: {layers, input_layers, output_layers}`", config,
                      "layers")
    input_names = [ref[0] for ref in config.get("input_layers") or [] if isinstance(ref, (list, tuple)) and ref]
    if feeds is not None and len(feeds) != len(input_names):
        raise Refusal(f"the nested model `{config.get('name')}` has {len(input_names)} inputs, fed {len(feeds)}",
                      config, "input_layers")
    for entry in config["layers"]:
        if not isinstance(entry, dict):
            raise Refusal("a layer entry must be a mapping with `class_name` and `config`", config, "layers")
        kind = entry.get("class_name")
        layer_config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        name = entry.get("name") or layer_config.get("name")
        nodes = entry.get("inbound_nodes") or []
        if kind == "InputLayer":
            if feeds is not None:  # a nested model's input stands for what the outer model feeds it
                graph.alias[(name, 0, 0)] = feeds[input_names.index(name)]
                continue
            dtype = str(layer_config.get("input_dtype") or layer_config.get("dtype") or "float32")
            graph.inputs[name] = {"batch_shape": list(layer_config.get("batch_input_shape") or []),
                                  **({"dtype": "int32"} if dtype.startswith("int") else {})}
            continue
        if kind in _NESTED:
            if len(nodes) != 1:
                raise Refusal(f"the nested model `{name}` is applied {len(nodes)} times; rnncli inlines a nested model "
                              f"applied once", entry, "inbound_nodes")
            inner_feeds = [graph.tensor(ref, entry) for ref in nodes[0]]
            if kind == "Sequential":
                if len(inner_feeds) != 1:
                    raise Refusal(f"the nested Sequential `{name}` takes one input", entry, "inbound_nodes")
                outs = [_sequential(entry, graph, inner_feeds[0])]
            else:
                outs = _functional(layer_config, graph, inner_feeds)
            for index, tensor in enumerate(outs):
                graph.alias[(name, 0, index)] = tensor
            continue
        layer = _layer(entry, graph)
        for index, node in enumerate(nodes):
            if not isinstance(node, (list, tuple)) or not node:
                raise Refusal(f"layer `{name}`: inbound node {index} is empty", entry, "inbound_nodes")
            tensors = [graph.tensor(ref, entry) for ref in node]
            states = [graph.tensor(ref, entry) for ref in _call_states(node, entry)]
            if index == 0:
                mapping = layer
            else:
                mapping = _marked({"share": name, "name": f"{name}_node{index}"}, entry)
                if layer.get("return_state"):
                    mapping["return_state"] = True
            if kind == "Merge" or layer.get("type") in ("Add", "Multiply", "Average", "Maximum", "Concatenate",
                                                        "Dot"):
                mapping["inputs"] = tensors
            else:
                mapping["input"] = tensors[0]
                if len(tensors) > 1 and states:
                    raise Refusal(f"layer `{name}`: inbound node {index} gives initial_state both as extra inputs "
                                  f"and as a call argument", entry, "inbound_nodes")
                if len(tensors) > 1 or states:
                    mapping["initial_state"] = tensors[1:] or states
            graph.layers.append(mapping)
            if index == 0:
                graph.alias.setdefault((name, 0, 0), name)
    outputs = [graph.tensor(ref, config) for ref in config.get("output_layers") or []]
    if not outputs:
        raise Refusal("the model has no `output_layers`", config, "output_layers")
    return outputs


def _call_states(node: list, entry: dict) -> list:
    """The ``initial_state`` references of a Keras 2 node given as a call argument (``[layer, node, tensor,
    {initial_state: [[layer, node, tensor], ...]}]``; one reference or a list of them)."""
    refs: list = []
    for ref in node:
        kwargs = ref[3] if isinstance(ref, (list, tuple)) and len(ref) > 3 and isinstance(ref[3], dict) else {}
        value = kwargs.get("initial_state")
        if value is None:
            continue
        if isinstance(value, (list, tuple)) and value and isinstance(value[0], str):
            value = [value]
        if not isinstance(value, (list, tuple)):
            raise Refusal(f"inbound `initial_state` {value!r} is not a list of `[layer, node_index, tensor_index]`",
                          entry, "inbound_nodes")
        refs += list(value)
    return refs


def _sequential(doc: dict, graph: _Graph, feed: str | None) -> str:
    """Add a Sequential's layers as a chain from ``feed`` (a first ``Merge`` of Sequential branches merges the
    branches' outputs; a first layer without ``feed`` declares the model input). Returns its output tensor."""
    config = doc.get("config")
    entries = config.get("layers") if isinstance(config, dict) else config
    if not isinstance(entries, list) or not entries:
        raise Refusal("a Sequential needs a non-empty list of layers", doc, "config")
    current = feed
    for position, entry in enumerate(entries):
        if not isinstance(entry, dict):
            raise Refusal("a layer entry must be a mapping with `class_name` and `config`", entries, position)
        kind = entry.get("class_name")
        layer_config = entry.get("config") if isinstance(entry.get("config"), dict) else {}
        if kind == "Merge" and isinstance(layer_config.get("layers"), list):
            if position != 0 or current is not None:
                raise Refusal("a Merge of Sequential branches must be the first layer", entry, "class_name")
            if len(layer_config["layers"]) < 2:
                raise Refusal(f"layer `{layer_config.get('name', 'merge')}` (Merge) merges "
                              f"{len(layer_config['layers'])} Sequential branches; it needs at least two", entry,
                              "config")
            branches = [_sequential(branch, graph, None) for branch in layer_config["layers"]]
            layer = _layer(entry, graph)
            layer["inputs"] = branches
            graph.layers.append(layer)
            current = layer["name"] if "name" in layer else _auto_name(graph, "merge")
            layer["name"] = current
            continue
        if kind in _NESTED:
            current = _sequential(entry, graph, current) if kind == "Sequential" else _functional(
                layer_config, graph, [current] if current is not None else None)[0]
            continue
        layer = _layer(entry, graph)
        if current is None:
            name = layer.get("name") or _auto_name(graph, str(kind).lower())
            layer["name"] = name
            shape = _declared(layer)
            if shape is None:
                raise Refusal(f"layer `{name}`: the first layer of a Sequential branch must declare its input "
                              f"(batch_input_shape)", entry, "config")
            input_name = f"{name}_input"
            graph.inputs[input_name] = {"batch_shape": shape, **({"dtype": "int32"} if kind == "Embedding" else {})}
            for key in ("batch_input_shape", "input_shape", "input_dim", "input_length"):
                if key in layer and not (kind == "Embedding" and key in ("input_dim", "input_length")):
                    layer.pop(key)
            current = input_name
        layer["input"] = current
        if "name" not in layer:
            layer["name"] = _auto_name(graph, str(kind).lower())
        graph.layers.append(layer)
        current = layer["name"]
    assert current is not None
    return current


def _auto_name(graph: _Graph, stem: str) -> str:
    taken = {layer.get("name") for layer in graph.layers}
    index = 1
    while f"{stem}_{index}" in taken:
        index += 1
    return f"{stem}_{index}"


def _declared(layer: dict) -> list | None:
    """A branch's first layer's input shape with the batch axis (Keras 1 precedence)."""
    if layer.get("batch_input_shape") is not None:
        return list(layer["batch_input_shape"])
    if layer.get("type") == "Embedding":
        return [None, layer.get("input_length")]
    if layer.get("input_dim") is not None:
        if layer.get("type") in ("LSTM", "GRU", "SimpleRNN", "Convolution1D"):
            return [None, layer.get("input_length"), layer["input_dim"]]
        return [None, layer["input_dim"]]
    if layer.get("input_shape") is not None:
        return [None] + list(layer["input_shape"])
    return None
