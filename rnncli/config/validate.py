"""Validate a config file completely before TensorFlow is touched.

``load_config(path)`` returns a ``Config`` (resolved arguments with defaults, and a ``ModelPlan`` with every shape),
or raises ``ConfigError`` holding *all* problems, each located at ``FILE:LINE:COL``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncli.config.args import LAYER_SPECS, TIME_DISTRIBUTABLE

from rnncli.config.section_args import DATA_ARGS, TOP_LEVEL_ARGS
from rnncli.config.config import Config
from rnncli.config.constraints import WEIGHT_RANKS, axis_problem
from rnncli.config.data_section import check_data_section
from rnncli.config.graph_data import check_graph_data
from rnncli.config.graph_training import (needs_graph_training, per_output_training, reported_names,
                                          validate_graph_training)
from rnncli.config.graph_validate import LayerChecks, is_graph_model, validate_graph
from rnncli.config.keras1 import is_keras1_document, keras1_to_layers, wrap_document
from rnncli.config.keras1_graph import is_keras_graph_document, keras1_graph_section
from rnncli.config.overrides import apply_override
from rnncli.config.plan import LayerPlan, ModelPlan, ShapeProblem, fmt_shape, infer_layer
from rnncli.config.sections import check_section as _check_section
from rnncli.config.sections import resolve_args as _resolve_args
from rnncli.config.training import validate_training
from rnncli.config.tune import validate_tune
from rnncli.config.weight_layouts import expected_weight_shapes, match_weight_layout
from rnncli.config.weights import read_weight_arrays
from rnncli.config.values import INVALID, Diagnostics, check_unknown_keys, check_value, show, suggest, type_name, where
from rnncli.documents.yaml_loader import MarkedDict, load_yaml
from rnncli.errors import ConfigError, Diagnostic


MAX_LAYERS = 1000


def load_config(path: str | Path, *, require_training: bool = False, overrides: list[str] | None = None,
                base_dir: str | Path | None = None, check_files: bool = True) -> Config:
    """Load and validate ``path``; raise ``ConfigError`` with every problem found.

    ``overrides`` are ``key.path=value`` strings applied before validation (``training.nb_epoch=4``,
    ``model.layers.0.output_dim=8``); ``base_dir`` resolves relative file paths (default: the config's folder);
    ``check_files=False`` skips the existence of data and weights files (a run directory needs neither).
    """
    path = Path(path)
    from rnncli.documents.keras_hdf5 import is_hdf5

    if is_hdf5(path):
        raise ConfigError([Diagnostic(str(path), 0, 0, "this is an HDF5 file (Keras weights or model.save()), not a "
                                      f"config: import it first: rnncli import {path} -o RUN")])
    raw = load_yaml(path)
    diags = Diagnostics(str(path), check_files)
    raw, notes = wrap_document(raw, diags)  # a bare Keras document: overrides go beside it, not into it
    if diags.items:
        raise ConfigError(diags.items)
    for override in overrides or []:
        apply_override(raw, override, str(path))
    anchor = Path(base_dir) / path.name if base_dir is not None else path
    config = _validate_document(raw, anchor, diags, require_training)
    if diags.items:
        raise ConfigError(diags.items)
    assert config is not None
    config.path = path
    config.notes = notes
    return config


def _validate_document(raw: Any, path: Path, diags: Diagnostics, require_training: bool) -> Config | None:
    if not isinstance(raw, dict):
        diags.add(raw, None, f"the top level must be a mapping with a `model:` section, got {type_name(raw)}")
        return None
    if is_keras1_document(raw):
        wrapped = MarkedDict(model=raw)
        wrapped.mark, wrapped.marks = where(raw), {"model": where(raw)}
        raw = wrapped
    top = {a.name: a for a in TOP_LEVEL_ARGS}
    # `x-...` keys are free for YAML anchors (`x-lstm: &lstm {...}`), as in docker compose files
    check_unknown_keys(diags, raw, list(top) + [k for k in raw if isinstance(k, str) and k.startswith("x-")],
                       "config", "the top level")
    seed = raw.get("seed", top["seed"].default)
    seed = check_value(diags, top["seed"], seed, raw, "seed", "")
    if "model" not in raw:
        diags.add(raw, None, "missing the `model:` section (a `layers:` list)")
        return None
    plan, sources = _validate_model(raw["model"], raw, path, diags)
    data = _validate_data(raw, path, diags, require_training)
    if needs_graph_training(plan):  # several inputs or outputs: data and training by name
        training = validate_graph_training(raw, diags, require_training, plan)
    elif plan is None and is_graph_model(raw["model"]) and per_output_training(raw.get("training")):
        training = None  # its outputs are unknown until the graph is valid: read as a chain's, it would only mislead
    else:
        training = validate_training(raw, diags, require_training, plan)
    reported = (reported_names(plan.outputs, training["metrics"])
                if needs_graph_training(plan) and training is not None else None)
    tune = validate_tune(raw, diags, reported)
    if data is not None and needs_graph_training(plan):
        check_graph_data(raw["data"], data, plan, training, diags)
    elif data is not None:
        check_data_section(raw["data"], data, plan, training, diags)
    if plan is None or seed is INVALID:
        return None
    return Config(path=path, seed=seed, model=plan, data=data, training=training, layer_sources=sources,
                  tune=tune)


# ---------------------------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------------------------


def _validate_model(model: Any, parent: dict, path: Path, diags: Diagnostics) -> tuple[ModelPlan | None, list]:
    if isinstance(model, dict) and is_keras1_document(model) and is_keras_graph_document(model):
        model = keras1_graph_section(model, diags)  # a Keras graph: read as an rnncli graph section
        if model is None:
            return None, []
    if isinstance(model, dict) and is_keras1_document(model):
        layers = keras1_to_layers(model, diags)
        if layers is None:
            return None, []
        container, key = model, "config"
    elif is_graph_model(model):
        checks = LayerChecks(_resolve_layer, _check_weights_file, _check_later_declaration)
        layers = model.get("layers")  # validate_graph reports a `layers:` that is not a list
        return validate_graph(model, parent, path, diags, checks), list(layers) if isinstance(layers, list) else []
    elif isinstance(model, dict):
        check_unknown_keys(diags, model, ["layers"], "model", "the model section")
        if "layers" not in model:
            diags.add(parent, "model", "model: missing `layers:` (a list of layer mappings)")
            return None, []
        layers = model["layers"]
        container, key = model, "layers"
    else:
        diags.add(parent, "model", f"model must be a mapping with `layers:`, got {type_name(model)}")
        return None, []
    if not isinstance(layers, list) or not layers:
        diags.add(container, key, "model.layers must be a non-empty list of layer mappings")
        return None, []
    if len(layers) > MAX_LAYERS:
        diags.add(container, key, f"model.layers has {len(layers)} layers; rnncli accepts at most {MAX_LAYERS}")
        return None, []
    counters: dict[str, int] = {}
    resolved: list[dict | None] = []
    for index, item in enumerate(layers):
        resolved.append(_resolve_layer(item, layers, index, f"model.layers[{index}]", path, diags, counters))
    names: dict[str, int] = {}
    for index, cfg in enumerate(resolved):
        if cfg is None:
            continue
        if cfg["name"] in names:
            diags.add(layers[index], "name", f"model.layers[{index}]: duplicate layer name `{cfg['name']}` "
                      f"(also used by model.layers[{names[cfg['name']]}])")
        names[cfg["name"]] = index
    if any(cfg is None for cfg in resolved):
        return None, []
    return _plan_shapes(resolved, layers, path, diags), list(layers)


def _resolve_layer(item: Any, container: Any, key: Any, where_text: str, path: Path, diags: Diagnostics,
                   counters: dict[str, int], nested: bool = False) -> dict | None:
    """Check one layer mapping's keys and values; return it resolved with defaults, or None."""
    if not isinstance(item, dict):
        diags.add(container, key, f"{where_text} must be a mapping with `type:`, got {type_name(item)}")
        return None
    kind = item.get("type")
    if kind is None:
        diags.add(container, key, f"{where_text}: missing `type:` (one of {', '.join(LAYER_SPECS)})")
        return None
    if not isinstance(kind, str) or kind not in LAYER_SPECS:
        diags.add(item, "type", f"{where_text}.type: unknown layer type {show(kind)}"
                  f"{suggest(kind, list(LAYER_SPECS))}; expected one of {', '.join(LAYER_SPECS)}")
        return None
    spec = LAYER_SPECS[kind]
    wrapped = nested  # the name is taken by the helper below
    check_unknown_keys(diags, item, ["type"] + list(spec.arg_index), where_text, f"a {kind} layer")
    before = len(diags.items)

    def nested(value: Any) -> dict | None:
        inner = _resolve_layer(value, item, "layer", f"{where_text}.layer", path, diags, counters, True)
        if inner is not None:
            _check_wrapped(kind, inner, item, where_text, diags)
        return inner

    resolved = _resolve_args(spec.args, item, container, key, where_text, f" for {kind}", path, diags, nested)
    if resolved is None or len(diags.items) > before:
        return None
    result: dict[str, Any] = {"type": kind, **resolved}
    if not _check_constraints_and_activity(result, item, where_text, wrapped, diags):
        return None
    if result.get("name") is None:
        counters[kind] = counters.get(kind, 0) + 1
        result["name"] = f"{kind.lower()}_{counters[kind]}"
    return result


def _check_constraints_and_activity(cfg: dict, item: dict, where_text: str, nested: bool, diags: Diagnostics
                                    ) -> bool:
    """Each constraint's axis fits the rank of its weight; no activity regularizer inside a wrapper."""
    ok = True
    ranks = dict(WEIGHT_RANKS.get(cfg["type"], {}))
    if cfg.get("reset_after"):
        ranks["b_constraint"] = 2  # the GRU's bias [2, 3u]
    for key, rank in ranks.items():
        problem = axis_problem(cfg[key], rank) if cfg.get(key) else None
        if problem:
            diags.add(item, key, f"{where_text}.{key}: {problem}")
            ok = False
    if nested and cfg.get("activity_regularizer"):
        diags.add(item, "activity_regularizer", f"{where_text}.activity_regularizer: not supported on a layer "
                  "inside TimeDistributed or Bidirectional (put it on the wrapper's next layer instead)")
        ok = False
    return ok


def _check_wrapped(wrapper: str, inner: dict, item: dict, where_text: str, diags: Diagnostics) -> None:
    if wrapper == "TimeDistributed" and inner["type"] not in TIME_DISTRIBUTABLE:
        diags.add(item, "layer", f"{where_text}.layer: TimeDistributed can wrap {', '.join(TIME_DISTRIBUTABLE)}, "
                  f"not {inner['type']}")
    if wrapper == "Bidirectional" and not LAYER_SPECS[inner["type"]].recurrent:
        diags.add(item, "layer", f"{where_text}.layer: Bidirectional wraps a recurrent layer (SimpleRNN, GRU, LSTM), "
                  f"not {inner['type']}")


def _declared_input(cfg: dict) -> tuple | None:
    """The input shape (with batch axis) a layer declares, following Keras 1's precedence; None if none."""
    if cfg.get("batch_input_shape") is not None:
        return tuple(cfg["batch_input_shape"])
    kind = cfg["type"]
    if kind == "Embedding":
        return (None,) + tuple(cfg["input_shape"]) if cfg.get("input_shape") else (None, cfg.get("input_length"))
    if cfg.get("input_dim") is not None:  # Keras 1: `input_dim` (+ `input_length`) overrides `input_shape`
        if LAYER_SPECS[kind].recurrent or kind == "Convolution1D":
            return (None, cfg.get("input_length"), cfg["input_dim"])
        return (None, cfg["input_dim"])
    if cfg.get("input_shape") is not None:
        return (None,) + tuple(cfg["input_shape"])
    if cfg.get("layer") is not None:
        return _declared_input(cfg["layer"])
    return None


def _plan_shapes(layers: list[dict], sources: list, path: Path, diags: Diagnostics) -> ModelPlan | None:
    first = layers[0]
    declared = _declared_input(first)
    if declared is None:
        diags.add(sources, 0, "model.layers[0]: the first layer must define its input: add `input_shape: [T, D]`, "
                  "`batch_input_shape: [B, T, D]` or `input_dim: D` (with `input_length: T`)")
        return None
    leads_input = first["type"] == "InputLayer"
    embedding_first = layers[1 if leads_input and len(layers) > 1 else 0]["type"] == "Embedding"
    integer_input = embedding_first or (leads_input and first.get("input_dtype") == "int32")
    plan = ModelPlan(input_shape=declared, input_dtype="int32" if integer_input else "float32")
    shape, mask = declared, False
    for index, cfg in enumerate(layers):
        source = sources[index]
        where_text = f"model.layers[{index}]"
        if index > 0 and cfg["type"] == "InputLayer":
            diags.add(sources, index, f"{where_text}: InputLayer declares the model input, so it must be the first "
                      f"layer")
            return None
        if index > 0 and not (index == 1 and leads_input):
            if cfg["type"] == "Embedding":
                diags.add(sources, index, f"{where_text}: Embedding must be the first layer (it takes integer indices)")
                return None
            _check_later_declaration(cfg, shape, source, where_text, diags)
        if mask and not LAYER_SPECS[cfg["type"]].supports_masking:
            producer = _mask_producer(plan.layers)
            diags.add(sources, index, f"{where_text}: layer `{cfg['name']}` ({cfg['type']}) does not support masking, "
                      f"but receives a mask from `{producer}`; fix: set `return_sequences: false` on the last recurrent "
                      f"layer, wrap it in TimeDistributed, or remove `mask_zero`/Masking")
            return None
        try:
            layer = infer_layer(cfg, shape, mask)
        except ShapeProblem as problem:
            key = problem.key if problem.key in source else None
            if key is None and cfg.get("layer") is not None and isinstance(source.get("layer"), dict):
                key = "layer"
            if key is not None:
                diags.add(source, key, f"{where_text}: {problem}")
            else:
                diags.add(sources, index, f"{where_text}: {problem}")
            return None
        _check_weights_file(layer, source, where_text, diags)
        plan.layers.append(layer)
        shape, mask = layer.output_shape, layer.mask_out
    return plan


def _mask_producer(layers: list[LayerPlan]) -> str:
    for layer in reversed(layers):
        if layer.type in ("Embedding", "Masking"):
            return layer.name
    return layers[-1].name if layers else "?"


def _check_later_declaration(cfg: dict, shape: tuple, source: dict, where_text: str, diags: Diagnostics) -> None:
    """A non-first layer may repeat its input shape (Keras 1 files do); it must then agree with the inferred one."""
    declared = _declared_input(cfg) if cfg["type"] != "Embedding" else None
    if declared is None:
        return
    inner = cfg.get("layer") if cfg["type"] == "TimeDistributed" else None
    if inner is not None and cfg.get("batch_input_shape") is None and cfg.get("input_shape") is None:
        shape = (shape[0],) + tuple(shape[2:])  # the wrapped layer sees one timestep
    if cfg["type"] in ("Dense", "TimeDistributed") and cfg.get("batch_input_shape") is None \
            and cfg.get("input_shape") is None and len(declared) == 2:
        # Keras 1 writes Dense's `input_dim` on every layer; it only fixes the last axis (Dense takes 3-D input)
        if declared[-1] is not None and shape[-1] is not None and declared[-1] != shape[-1]:
            diags.add(source, "input_dim" if "input_dim" in source else "layer",
                      f"{where_text}: declares {declared[-1]} input features but the previous layer outputs "
                      f"{shape[-1]}")
        return
    if len(declared) != len(shape) or any(d is not None and s is not None and d != s
                                          for d, s in zip(declared, shape)):
        key = next((k for k in ("batch_input_shape", "input_shape", "input_dim") if cfg.get(k) is not None), None)
        diags.add(source, key, f"{where_text}: declares input {fmt_shape(declared)} but the previous layer "
                  f"outputs {fmt_shape(shape)}")


def _check_weights_file(layer: LayerPlan, source: dict, where_text: str, diags: Diagnostics) -> None:
    """Check count and shapes of a `weights:` file against the layer's Keras 1 layouts."""
    holder, holder_source = layer.config, source
    if layer.inner is not None and layer.config["type"] == "Bidirectional":
        holder, holder_source = layer.config["layer"], source.get("layer", source)
    path = holder.get("weights")
    if not path:
        return
    try:
        arrays = read_weight_arrays(path, (layer.name, holder["name"]))
    except ValueError as exc:
        diags.add(holder_source, "weights", f"{where_text}.weights: {exc}")
        return
    layouts = expected_weight_shapes(layer)
    message = match_weight_layout(layer.name, arrays, layouts)
    if message:
        diags.add(holder_source, "weights", f"{where_text}.weights: {message}")


# ---------------------------------------------------------------------------------------------------------------
# data and training
# ---------------------------------------------------------------------------------------------------------------


def _validate_data(raw: dict, path: Path, diags: Diagnostics, required: bool) -> dict | None:
    if raw.get("data") is None:
        if required:
            diags.add(raw, None, "missing the `data:` section: `rnncli train` needs `data: {train: FILE}`")
        return None
    return _check_section(raw["data"], DATA_ARGS, raw, "data", "data", path, diags)


