"""Validate a ``model:`` section that is a graph: named ``inputs``, layers naming their ``input``/``inputs``,
shared layers (``share:``), recurrent states (``return_state``/``initial_state``), named ``outputs``.

A chain config never comes here (``is_graph_model`` is false for it), so its meaning and messages are unchanged.
Every problem is reported at FILE:LINE:COL: unknown names (with did-you-mean), cycles, shape mismatches at merges,
unused inputs. The chain validator's per-layer checks are passed in as ``LayerChecks`` so this module does not
import ``validate.py`` back.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any, Callable

from rnncli.config.args import LAYER_SPECS
from rnncli.config.graph_args import (GRAPH_LAYER_ARGS, GRAPH_LAYER_KEYS, INPUT_ARGS, MERGE_SPECS,
                                      merge_mode_of)
from rnncli.config.graph_plan import GraphInput, GraphNode, GraphPlan, merge_output_shape, split_tensor_name
from rnncli.config.plan import GATES, LayerPlan, ShapeProblem, fmt_shape, infer_layer
from rnncli.config.sections import resolve_args
from rnncli.config.values import Diagnostics, check_unknown_keys, check_value, show, suggest, type_name
from rnncli.documents.yaml_loader import MarkedDict, MarkedList

MAX_NODES = 1000


@dataclass(frozen=True)
class LayerChecks:
    """The chain validator's checks of one layer: ``resolve(item, container, key, where, path, diags, counters)``
    -> resolved config or None; ``weights(layer_plan, source, where, diags)``; ``declaration(cfg, shape, source,
    where, diags)`` (an input shape a layer repeats must agree with what it receives)."""

    resolve: Callable
    weights: Callable
    declaration: Callable


def is_graph_model(model: Any) -> bool:
    """Whether a ``model:`` mapping uses the graph surface (``inputs``/``outputs``, a merge, or graph keys)."""
    if not isinstance(model, dict):
        return False
    if "inputs" in model or "outputs" in model:
        return True
    layers = model.get("layers")
    return isinstance(layers, list) and any(
        isinstance(item, dict) and (any(k in item for k in GRAPH_LAYER_KEYS) or item.get("type") in MERGE_SPECS)
        for item in layers)


@dataclass
class _Entry:
    index: int
    item: dict
    config: dict | None  # resolved layer config (None for a `share:` entry)
    graph: dict  # resolved graph keys
    name: str
    owner: str
    inbound: list[str]
    refs: list[tuple[str, Any, Any]]  # (tensor name, container, key) for error positions


def _without_graph_keys(item: MarkedDict) -> MarkedDict:
    stripped = MarkedDict({k: v for k, v in item.items() if k not in GRAPH_LAYER_KEYS})
    stripped.mark = item.mark
    stripped.marks = getattr(item, "marks", {})
    stripped.key_marks = getattr(item, "key_marks", {})
    return stripped


def _string_list(value: Any, container: Any, key: str, what: str, diags: Diagnostics) -> list[str] | None:
    if isinstance(value, str):
        return [value]
    if isinstance(value, list) and value and all(isinstance(v, str) for v in value):
        return list(value)
    diags.add(container, key, f"{what} must be a tensor name or a list of names, got {show(value)}")
    return None


def validate_graph(model: dict, parent: dict, path: Path, diags: Diagnostics, checks: LayerChecks
                   ) -> GraphPlan | None:
    """The ``GraphPlan`` of a graph ``model:`` section, or None after reporting every problem to ``diags``."""
    check_unknown_keys(diags, model, ["inputs", "layers", "outputs"], "model", "a graph model section")
    before = len(diags.items)
    inputs = _inputs(model, parent, path, diags)
    layers = model.get("layers")
    if not isinstance(layers, list) or not layers:
        diags.add(model if "layers" in model else parent, "layers" if "layers" in model else "model",
                  "model.layers must be a non-empty list of layer mappings")
        return None
    if len(layers) > MAX_NODES:
        diags.add(model, "layers", f"model.layers has {len(layers)} layers; rnncli accepts at most {MAX_NODES}")
        return None
    if inputs is None:
        return None
    entries = _entries(layers, path, diags, checks, list(inputs))
    if entries is None or len(diags.items) > before:
        return None
    order = _order(entries, inputs, diags)
    if order is None:
        return None
    plan = _infer(order, entries, inputs, model, diags, checks)
    return plan if len(diags.items) == before else None


# -- inputs ----------------------------------------------------------------------------------------------------


def _inputs(model: dict, parent: dict, path: Path, diags: Diagnostics) -> dict | None:
    raw = model.get("inputs")
    if raw is None:
        diags.add(model, None, "model: a graph (layers with `input`/`inputs`, merges, `share:` or `outputs:`) needs "
                  "`inputs:`, a mapping of input names to `{shape: [T, D]}`")
        return None
    if not isinstance(raw, dict) or not raw:
        diags.add(model, "inputs", "model.inputs must be a mapping of input names to `{shape: [...]}`, got "
                  + ("an empty mapping" if isinstance(raw, dict) else type_name(raw)))
        return None
    result: dict[str, dict] = {}
    for name, spec in raw.items():
        where_text = f"model.inputs.{name}"
        if not isinstance(name, str) or not name:
            diags.add(raw, name, f"model.inputs: input names must be strings, got {show(name)}")
            continue
        if not isinstance(spec, dict):
            diags.add(raw, name, f"{where_text} must be a mapping like `{{shape: [10, 3]}}`, got {type_name(spec)}")
            continue
        check_unknown_keys(diags, spec, [a.name for a in INPUT_ARGS], where_text, "a model input")
        resolved = resolve_args(INPUT_ARGS, spec, raw, name, where_text, "", path, diags)
        if resolved is None:
            continue
        if resolved["batch_shape"] is not None:
            shape = tuple(resolved["batch_shape"])
        elif resolved["shape"] is not None:
            shape = (None,) + tuple(resolved["shape"])
        else:
            diags.add(raw, name, f"{where_text}: give its `shape: [T, D]` (without the batch axis) or `batch_shape`")
            continue
        result[name] = {"shape": shape, "dtype": resolved["dtype"], "source": (raw, name)}
    return result if len(result) == len(raw) else None


# -- layers ----------------------------------------------------------------------------------------------------


def _entries(layers: list, path: Path, diags: Diagnostics, checks: LayerChecks, input_names: list[str]
             ) -> list[_Entry] | None:
    counters: dict[str, int] = {}
    applications: dict[str, int] = {}
    entries: list[_Entry] = []
    ok = True
    for index, item in enumerate(layers):
        where_text = f"model.layers[{index}]"
        if not isinstance(item, dict):
            diags.add(layers, index, f"{where_text} must be a mapping with `type:`, got {type_name(item)}")
            ok = False
            continue
        graph = {}
        for arg in GRAPH_LAYER_ARGS:
            if arg.name in item:
                graph[arg.name] = check_value(diags, arg, item[arg.name], item, arg.name, where_text)
        if "share" in item:
            owner = graph.get("share")
            if not isinstance(owner, str):
                ok = False
                continue
            check_unknown_keys(diags, item, ["share", "name", "input", "initial_state", "return_state"], where_text,
                               "a `share:` entry (it applies another layer again)")
            applications[owner] = applications.get(owner, 1) + 1
            name = item.get("name") if isinstance(item.get("name"), str) else f"{owner}_{applications[owner]}"
            entries.append(_Entry(index, item, None, graph, name, owner, [], []))
            continue
        stripped = _without_graph_keys(item)
        kind = item.get("type")
        if kind in MERGE_SPECS:
            config = _resolve_merge(stripped, layers, index, where_text, path, diags, counters)
        else:
            config = checks.resolve(stripped, layers, index, where_text, path, diags, counters)
        if config is None:
            ok = False
            continue
        entries.append(_Entry(index, item, config, graph, config["name"], config["name"], [], []))
    if not ok:
        return None
    seen: dict[str, int] = {name: -1 for name in input_names}
    for entry in entries:
        if entry.name in seen:
            other = seen[entry.name]
            also = f"model.inputs.{entry.name}" if other < 0 else f"model.layers[{other}]"
            diags.add(entry.item, "name" if "name" in entry.item else None,
                      f"model.layers[{entry.index}]: duplicate name `{entry.name}` (also used by {also})")
            ok = False
        seen[entry.name] = entry.index
    layer_names = [e.name for e in entries if e.config is not None]
    for entry in entries:
        if entry.config is None and entry.owner not in layer_names:
            diags.add(entry.item, "share", f"model.layers[{entry.index}].share: no layer named `{entry.owner}`"
                      f"{suggest(entry.owner, layer_names)}")
            ok = False
    if not ok:
        return None
    names = input_names + [e.name for e in entries]
    for position, entry in enumerate(entries):
        if not _references(entry, entries[position - 1] if position else None, input_names, names, diags):
            ok = False
    return entries if ok else None


def _resolve_merge(item: MarkedDict, container: Any, key: Any, where_text: str, path: Path, diags: Diagnostics,
                   counters: dict[str, int]) -> dict | None:
    kind = item["type"]
    spec = MERGE_SPECS[kind]
    check_unknown_keys(diags, item, ["type"] + list(spec.arg_index), where_text, f"a {kind} layer")
    before = len(diags.items)
    resolved = resolve_args(spec.args, item, container, key, where_text, f" for {kind}", path, diags)
    if resolved is None or len(diags.items) > before:
        return None
    config = {"type": kind, **resolved}
    if config.get("name") is None:
        counters[kind] = counters.get(kind, 0) + 1
        config["name"] = f"{kind.lower()}_{counters[kind]}"
    return merge_mode_of(config)


def _references(entry: _Entry, previous: _Entry | None, input_names: list[str], names: list[str],
                diags: Diagnostics) -> bool:
    where_text = f"model.layers[{entry.index}]"
    item, graph = entry.item, entry.graph
    is_merge = entry.config is not None and entry.config["type"] == "Merge"
    if is_merge:
        if "input" in item:
            diags.add(item, "input", f"{where_text}: a merge takes `inputs:` (a list of tensor names), not `input:`")
            return False
        if "inputs" not in item:
            diags.add(item, None, f"{where_text}: a merge needs `inputs:`, the list of tensors it merges")
            return False
        refs = _string_list(graph["inputs"], item, "inputs", f"{where_text}.inputs", diags)
        if refs is None:
            return False
        holder = item["inputs"] if isinstance(item["inputs"], list) else None
        entry.refs = [(ref, holder if holder is not None else item, j if holder is not None else "inputs")
                      for j, ref in enumerate(refs)]
    else:
        if "inputs" in item:
            diags.add(item, "inputs", f"{where_text}: only a merge takes `inputs:`; this layer takes one `input:`")
            return False
        ref = graph.get("input")
        if "input" in item and not isinstance(ref, str):
            diags.add(item, "input", f"{where_text}.input must be a tensor name, got {show(item['input'])}")
            return False
        if ref is None:
            if previous is not None:
                ref = previous.name
            elif len(input_names) == 1:
                ref = input_names[0]
            else:
                diags.add(item, None, f"{where_text}: the first layer must name its `input:` (one of "
                          f"{', '.join(input_names)})")
                return False
            entry.refs = [(ref, item, None)]
        else:
            entry.refs = [(ref, item, "input")]
    entry.inbound = [ref for ref, _, _ in entry.refs]
    ok = True
    if "initial_state" in item:
        states = _string_list(graph["initial_state"], item, "initial_state", f"{where_text}.initial_state", diags)
        if states is None:
            return False
        holder = item["initial_state"]
        entry.refs += [(ref, holder if isinstance(holder, list) else item, j if isinstance(holder, list)
                        else "initial_state") for j, ref in enumerate(states)]
        graph["initial_state"] = states
    for ref, container, key in entry.refs:
        base, _ = split_tensor_name(ref)
        if base not in names:
            diags.add(container, key, f"{where_text}: no input or layer named `{base}`{suggest(base, names)}")
            ok = False
        elif base == entry.name:
            diags.add(container, key, f"{where_text}: layer `{entry.name}` cannot read its own output")
            ok = False
    return ok


# -- order -----------------------------------------------------------------------------------------------------


def _order(entries: list[_Entry], inputs: dict, diags: Diagnostics) -> list[_Entry] | None:
    """The entries in an order where each comes after what it reads (and after the layer it shares); a cycle is
    reported at the entry that closes it."""
    by_name = {e.name: e for e in entries}

    def deps(entry: _Entry) -> list[str]:
        found = [split_tensor_name(ref)[0] for ref, _, _ in entry.refs]
        if entry.config is None:
            found.append(entry.owner)
        return [d for d in found if d in by_name]

    order: list[_Entry] = []
    state: dict[str, int] = {}  # 1 visiting, 2 done

    def visit(entry: _Entry, trail: list[str]) -> bool:
        mark = state.get(entry.name)
        if mark == 2:
            return True
        if mark == 1:
            loop = trail[trail.index(entry.name):] + [entry.name]
            diags.add(entry.item, None, f"model.layers[{entry.index}]: the graph has a cycle: {' -> '.join(loop)}")
            return False
        state[entry.name] = 1
        for dep in deps(entry):
            if not visit(by_name[dep], trail + [entry.name]):
                return False
        state[entry.name] = 2
        order.append(entry)
        return True

    for entry in entries:
        if not visit(entry, []):
            return None
    return order


# -- shapes ----------------------------------------------------------------------------------------------------


def _infer(order: list[_Entry], entries: list[_Entry], inputs: dict, model: dict, diags: Diagnostics,
           checks: LayerChecks) -> GraphPlan | None:
    dtypes = _input_dtypes(entries, inputs, diags)
    if dtypes is None:
        return None
    tensors: dict[str, tuple] = {name: (spec["shape"], False) for name, spec in inputs.items()}
    owners: dict[str, LayerPlan] = {}
    nodes: list[GraphNode] = []
    failed: set[str] = set()  # nodes that could not be planned; what reads them is skipped (one error each)
    for entry in order:
        if any(split_tensor_name(ref)[0] in failed for ref, _, _ in entry.refs) or entry.owner in failed:
            failed.add(entry.name)
            continue
        node = _infer_node(entry, tensors, owners, inputs, diags, checks)
        if node is None:
            failed.add(entry.name)
            continue
        nodes.append(node)
        if entry.config is not None:
            owners[entry.name] = node.layer
        for k, (tensor, shape) in enumerate(zip(node.tensor_names, node.outputs)):
            tensors[tensor] = (shape, node.layer.mask_out if k == 0 else False)
    used = {split_tensor_name(ref)[0] for e in entries for ref, _, _ in e.refs}
    if failed:
        return None
    outputs = _outputs(model, entries, tensors, diags)
    if outputs is None:
        return None
    used |= {split_tensor_name(o)[0] for o in outputs}
    shared = {e.owner for e in entries if e.config is None}
    for entry in entries:
        if entry.name not in used and entry.name not in shared:
            diags.add(entry.item, None, f"model.layers[{entry.index}]: the output of `{entry.name}` reaches no model "
                      f"output; list it under `outputs:` or remove the layer")
    for name, spec in inputs.items():
        if name not in used:
            container, key = spec["source"]
            diags.add(container, key, f"model.inputs.{name}: input `{name}` is not used by any layer")
    first = next(iter(inputs))
    # the layers that own weights in the order the config lists them (Keras loads weights by this position)
    position = {e.name: e.index for e in entries}
    layers = [node.layer for node in sorted(nodes, key=lambda n: position[n.name]) if node.owner == node.name]
    return GraphPlan(input_shape=inputs[first]["shape"], input_dtype=dtypes[first], layers=layers,
                     inputs=[GraphInput(n, spec["shape"], dtypes[n]) for n, spec in inputs.items()],
                     nodes=nodes, outputs=outputs, output_shapes={o: tensors[o][0] for o in outputs},
                     tensor_masks={name: mask for name, (_, mask) in tensors.items()})


def _input_dtypes(entries: list[_Entry], inputs: dict, diags: Diagnostics) -> dict | None:
    configs = {e.name: e.config for e in entries if e.config is not None}
    readers: dict[str, set[bool]] = {name: set() for name in inputs}
    for entry in entries:
        config = entry.config if entry.config is not None else configs.get(entry.owner)
        for ref in entry.inbound:
            if ref in readers and config is not None:
                readers[ref].add(config["type"] == "Embedding")
    result = {}
    ok = True
    for name, spec in inputs.items():
        declared = spec["dtype"]
        kinds = readers[name]
        if True in kinds and False in kinds:
            diags.add(*spec["source"], f"model.inputs.{name}: read by an Embedding (integer indices) and by other "
                      f"layers (floats); give each its own input")
            ok = False
        wanted = "int32" if True in kinds else "float32"
        if declared is not None and declared != wanted and kinds:
            diags.add(*spec["source"], f"model.inputs.{name}: dtype {declared}, but it is read by "
                      f"{'an Embedding, which takes int32 indices' if wanted == 'int32' else 'layers that take floats'}")
            ok = False
        result[name] = declared or wanted
    return result if ok else None


def _infer_node(entry: _Entry, tensors: dict, owners: dict, inputs: dict, diags: Diagnostics,
                checks: LayerChecks) -> GraphNode | None:
    where_text = f"model.layers[{entry.index}]"
    item = entry.item
    shapes, masks = [], []
    for ref, container, key in entry.refs:
        if ref not in tensors:
            base, k = split_tensor_name(ref)
            have = [t for t in tensors if split_tensor_name(t)[0] == base]
            hint = (f"`{base}` outputs {', '.join(f'`{t}`' for t in have)}" +
                    ("" if len(have) > 1 else "; give it `return_state: true` for its states"))
            diags.add(container, key, f"{where_text}: no tensor `{ref}`: {hint}")
            return None
        shapes.append(tensors[ref][0])
        masks.append(tensors[ref][1])
    count = len(entry.inbound)
    in_shapes, in_masks = shapes[:count], masks[:count]
    state_shapes = shapes[count:]
    config = entry.config if entry.config is not None else owners[entry.owner].config
    try:
        if config["type"] == "Merge":
            if any(in_masks):
                raise ShapeProblem(f"layer `{entry.name}` (Merge) receives a mask; merges of masked sequences are "
                                   f"not supported: set `return_sequences: false` on the recurrent layers first")
            out = merge_output_shape(config, in_shapes)
            layer = LayerPlan(config, in_shapes[0], out, 0, False, False)
        else:
            layer = _infer_layer(entry, config, in_shapes[0], in_masks[0], inputs, owners, checks, diags)
            if layer is None:
                return None
    except ShapeProblem as problem:
        key = problem.key if problem.key in item else None
        diags.add(item, key, f"{where_text}: {problem}")
        return None
    outputs = [layer.output_shape]
    return_state = bool(entry.graph.get("return_state"))
    initial = entry.graph.get("initial_state") or []
    if return_state or initial:
        if config["type"] not in GATES:
            key = "return_state" if return_state else "initial_state"
            diags.add(item, key, f"{where_text}: `{key}` needs a recurrent layer (SimpleRNN, GRU, LSTM), not "
                      f"{config['type']}")
            return None
        units, batch = config["output_dim"], in_shapes[0][0]
        state_count = 2 if config["type"] == "LSTM" else 1
        if initial and len(initial) != state_count:
            diags.add(item, "initial_state", f"{where_text}.initial_state: {config['type']} takes {state_count} "
                      f"state{'s' if state_count > 1 else ''} ({'h, c' if state_count > 1 else 'h'}), got "
                      f"{len(initial)}")
            return None
        for ref, shape in zip(initial, state_shapes):
            if len(shape) != 2 or (shape[1] is not None and shape[1] != units):
                diags.add(item, "initial_state", f"{where_text}.initial_state: `{ref}` has shape {fmt_shape(shape)}, "
                          f"but a state of `{entry.name}` is (batch, {units})")
                return None
        if return_state:
            outputs += [(batch, units)] * state_count
    return GraphNode(entry.name, layer, entry.owner, list(entry.inbound), list(initial), return_state, outputs)


def _infer_layer(entry: _Entry, config: dict, shape: tuple, mask: bool, inputs: dict, owners: dict,
                 checks: LayerChecks, diags: Diagnostics) -> LayerPlan | None:
    where_text = f"model.layers[{entry.index}]"
    item, kind = entry.item, config["type"]
    if kind == "InputLayer":
        diags.add(item, "type", f"{where_text}: a graph declares its inputs under `model.inputs`, not with "
                  f"InputLayer")
        return None
    if config.get("stateful") or (config.get("layer") or {}).get("stateful"):
        if not _stateful_fits(entry, inputs, item, where_text, diags):
            return None
    if kind == "Embedding" and entry.inbound[0] not in inputs:
        diags.add(item, "input" if "input" in item else None, f"{where_text}: an Embedding reads integer indices "
                  f"from a model input, not from `{entry.inbound[0]}`")
        return None
    if mask and not LAYER_SPECS[kind].supports_masking:
        diags.add(item, None, f"{where_text}: layer `{entry.name}` ({kind}) does not support masking, but its input "
                  f"`{entry.inbound[0]}` carries a mask; set `return_sequences: false` on the recurrent layer before "
                  f"it, or remove `mask_zero`/Masking")
        return None
    if entry.config is not None and kind != "Embedding":
        checks.declaration(config, shape, item, where_text, diags)
    layer = infer_layer(config, shape, mask)
    if entry.config is None:
        first = owners[entry.owner]
        if layer.params != first.params or layer.input_shape[-1] != first.input_shape[-1]:
            diags.add(item, "input" if "input" in item else "share",
                      f"{where_text}: shares `{entry.owner}`, whose weights were made for input "
                      f"{fmt_shape(first.input_shape)}, but its input is {fmt_shape(shape)}")
            return None
    else:
        checks.weights(layer, item, where_text, diags)
    return layer


def _stateful_fits(entry: _Entry, inputs: dict, item: dict, where_text: str, diags: Diagnostics) -> bool:
    """A stateful layer in a graph (Keras 1 semantics: its states carry over from batch to batch) needs every input
    to declare one fixed batch size, runs once per batch (not shared) and keeps its own states (no
    ``initial_state``/``return_state``, whose states are tensors of the batch)."""
    key = "stateful" if "stateful" in item else None
    batches = {name: spec["shape"][0] for name, spec in inputs.items()}
    if None in batches.values() or len(set(batches.values())) != 1:
        shown = ", ".join(f"{name} {batch}" for name, batch in batches.items())
        diags.add(item, key, f"{where_text}: layer `{entry.owner}` is stateful, so every model input needs the same "
                  f"fixed batch size: give each `batch_shape: [B, ...]` (batch sizes now: {shown})")
        return False
    if entry.config is None:
        diags.add(item, "share", f"{where_text}: shares the stateful layer `{entry.owner}`; a stateful layer keeps one "
                  f"state per batch row, so it is applied once")
        return False
    if entry.graph.get("initial_state") or entry.graph.get("return_state"):
        diags.add(item, "initial_state" if entry.graph.get("initial_state") else "return_state",
                  f"{where_text}: a stateful layer keeps its states across batches itself; it takes no "
                  f"`initial_state` and has no `return_state`")
        return False
    return True


def _outputs(model: dict, entries: list[_Entry], tensors: dict, diags: Diagnostics) -> list[str] | None:
    raw = model.get("outputs")
    if raw is None:
        return [entries[-1].name]
    names = _string_list(raw, model, "outputs", "model.outputs", diags)
    if names is None:
        return None
    ok = True
    for j, name in enumerate(names):
        container, key = (raw, j) if isinstance(raw, MarkedList) else (model, "outputs")
        if name not in tensors:
            diags.add(container, key, f"model.outputs: no tensor named `{name}`{suggest(name, list(tensors))}")
            ok = False
        elif names.index(name) != j:
            diags.add(container, key, f"model.outputs: `{name}` is listed twice")
            ok = False
    return names if ok else None
