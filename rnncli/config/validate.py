"""Validate a config file completely before TensorFlow is touched.

``load_config(path)`` returns a ``Config`` (resolved arguments with defaults, and a ``ModelPlan`` with every shape),
or raises ``ConfigError`` holding *all* problems, each located at ``FILE:LINE:COL``.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnncli.config.args import (
    CALLBACK_ARGS,
    CHECKPOINT_ARGS,
    DATA_ARGS,
    LAYER_SPECS,
    TIME_DISTRIBUTABLE,
    TOP_LEVEL_ARGS,
    TRAINING_ARGS,
    Arg,
)
from rnncli.config.keras1 import is_keras1_document, keras1_to_layers
from rnncli.config.plan import LayerPlan, ModelPlan, ShapeProblem, fmt_shape, infer_layer
from rnncli.config.weighting import validate_weighting
from rnncli.config.weights import expected_weight_shapes, match_weight_layout, read_weight_arrays
from rnncli.config.values import (
    INVALID,
    Diagnostics,
    check_unknown_keys,
    check_value,
    show,
    suggest,
    type_name,
    where,
)
from rnncli.config.yaml_loader import MarkedDict, load_yaml
from rnncli.errors import ConfigError, Diagnostic


MAX_LAYERS = 1000


@dataclass
class Config:
    """A validated config: resolved sections with defaults filled in, and the model plan."""

    path: Path
    seed: int
    model: ModelPlan
    data: dict | None = None
    training: dict | None = None
    layer_sources: list = field(default_factory=list, repr=False)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    def resolved(self) -> dict:
        """Plain data for ``config.resolved.yaml`` in a run directory (paths made absolute)."""
        return {
            "seed": self.seed,
            "model": {"layers": [_plain(layer.config) for layer in self.model.layers]},
            "data": _plain(self.data),
            "training": _plain(self.training),
        }


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value


def load_config(path: str | Path, *, require_training: bool = False, overrides: list[str] | None = None,
                base_dir: str | Path | None = None, check_files: bool = True) -> Config:
    """Load and validate ``path``; raise ``ConfigError`` with every problem found.

    ``overrides`` are ``key.path=value`` strings applied before validation (``training.nb_epoch=4``,
    ``model.layers.0.output_dim=8``); ``base_dir`` resolves relative file paths (default: the config's folder);
    ``check_files=False`` skips the existence of data and weights files (a run directory needs neither).
    """
    path = Path(path)
    raw = load_yaml(path)
    diags = Diagnostics(str(path), check_files)
    for override in overrides or []:
        apply_override(raw, override, str(path))
    anchor = Path(base_dir) / path.name if base_dir is not None else path
    config = _validate_document(raw, anchor, diags, require_training)
    if diags.items:
        raise ConfigError(diags.items)
    assert config is not None
    config.path = path
    return config


def apply_override(raw: Any, override: str, file: str) -> None:
    """Set ``a.b.0.c=value`` in the loaded document (value parsed as YAML)."""
    import yaml

    from rnncli.config.yaml_loader import MarkedLoader

    where_text = f"--set {override}"
    if "=" not in override:
        raise ConfigError([Diagnostic(file, 0, 0, f"{where_text}: expected KEY.PATH=VALUE")])
    key_path, _, text = override.partition("=")
    try:
        value = yaml.load(text, Loader=MarkedLoader) if text.strip() else None
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(file, 0, 0, f"{where_text}: invalid value ({exc})")]) from None
    parts = key_path.strip().split(".")
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise ConfigError([Diagnostic(file, 0, 0, f"{where_text}: `{part}` is not an index of a list "
                                              f"of {len(node)}")])
            if last:
                node[int(part)] = value
            else:
                node = node[int(part)]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            else:
                if node.get(part) is None:
                    node[part] = MarkedDict({"name": "rmsprop"}) if part == "optimizer" else MarkedDict()
                elif part == "optimizer" and isinstance(node[part], str):
                    node[part] = MarkedDict({"name": node[part]})  # `optimizer: adam` + --set optimizer.lr=...
                node = node[part]
        else:
            raise ConfigError([Diagnostic(file, 0, 0, f"{where_text}: `{'.'.join(parts[:i])}` is not a mapping")])


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
    training = _validate_training(raw, diags, require_training, plan)
    if plan is None or seed is INVALID:
        return None
    return Config(path=path, seed=seed, model=plan, data=data, training=training, layer_sources=sources)


# ---------------------------------------------------------------------------------------------------------------
# model
# ---------------------------------------------------------------------------------------------------------------


def _validate_model(model: Any, parent: dict, path: Path, diags: Diagnostics) -> tuple[ModelPlan | None, list]:
    if isinstance(model, dict) and is_keras1_document(model):
        layers = keras1_to_layers(model, diags)
        if layers is None:
            return None, []
        container, key = model, "config"
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
    if result.get("name") is None:
        counters[kind] = counters.get(kind, 0) + 1
        result["name"] = f"{kind.lower()}_{counters[kind]}"
    return result


def _check_wrapped(wrapper: str, inner: dict, item: dict, where_text: str, diags: Diagnostics) -> None:
    if wrapper == "TimeDistributed" and inner["type"] not in TIME_DISTRIBUTABLE:
        diags.add(item, "layer", f"{where_text}.layer: TimeDistributed can wrap {', '.join(TIME_DISTRIBUTABLE)}, "
                  f"not {inner['type']}")
    if wrapper == "Bidirectional" and not LAYER_SPECS[inner["type"]].recurrent:
        diags.add(item, "layer", f"{where_text}.layer: Bidirectional wraps a recurrent layer (SimpleRNN, GRU, LSTM), "
                  f"not {inner['type']}")


def _check_path(value: str, path: Path, container: dict, key: str, full: str, diags: Diagnostics) -> str | None:
    target = (path.parent / value).resolve()
    if diags.check_files and not target.exists():
        diags.add(container, key, f"{full}: file not found: {value} (looked for {target})")
        return None
    return str(target)


def _declared_input(cfg: dict) -> tuple | None:
    """The input shape (with batch axis) a layer declares, following Keras 1's precedence; None if none."""
    if cfg.get("batch_input_shape") is not None:
        return tuple(cfg["batch_input_shape"])
    kind = cfg["type"]
    if kind == "Embedding":
        return (None,) + tuple(cfg["input_shape"]) if cfg.get("input_shape") else (None, cfg.get("input_length"))
    if cfg.get("input_dim") is not None:  # Keras 1: `input_dim` (+ `input_length`) overrides `input_shape`
        if LAYER_SPECS[kind].recurrent:
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
    dtype = "int32" if first["type"] == "Embedding" else "float32"
    plan = ModelPlan(input_shape=declared, input_dtype=dtype)
    shape, mask = declared, False
    for index, cfg in enumerate(layers):
        source = sources[index]
        where_text = f"model.layers[{index}]"
        if index > 0:
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
        arrays = read_weight_arrays(path)
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


def _check_section(section: Any, args: tuple[Arg, ...], parent: dict, key: str, path_text: str, path: Path,
                   diags: Diagnostics) -> dict | None:
    """Generic check of a flat mapping against declarations; returns it resolved with defaults."""
    if not isinstance(section, dict):
        diags.add(parent, key, f"{path_text} must be a mapping, got {type_name(section)}")
        return None
    check_unknown_keys(diags, section, [a.name for a in args], path_text, f"the {path_text} section")
    return _resolve_args(args, section, parent, key, path_text, "", path, diags)


def _resolve_args(args: tuple[Arg, ...], mapping: dict, container: Any, key: Any, where_text: str, what: str,
                  path: Path, diags: Diagnostics, nested: Any = None) -> dict | None:
    """Check every declared argument of ``mapping`` and fill in defaults; None when any value was invalid.

    ``nested`` resolves ``layer``-kind values (wrappers); ``path``-kind values are resolved against the config.
    """
    result: dict[str, Any] = {}
    ok = True
    for arg in args:
        if arg.name in mapping:
            value = mapping[arg.name]
            if arg.kind == "layer":
                value = nested(value) if nested is not None else INVALID
                value = INVALID if value is None else value
            else:
                value = check_value(diags, arg, value, mapping, arg.name, where_text)
                if arg.kind == "path" and value not in (INVALID, None):
                    value = _check_path(value, path, mapping, arg.name, f"{where_text}.{arg.name}", diags)
                    value = INVALID if value is None else value
        elif arg.required:
            diags.add(container, key, f"{where_text}: missing required key `{arg.name}`{what} ({arg.help})")
            value = INVALID
        else:
            value = copy.deepcopy(arg.default)
        ok = ok and value is not INVALID
        result[arg.name] = value
    return result if ok else None


def _validate_data(raw: dict, path: Path, diags: Diagnostics, required: bool) -> dict | None:
    if raw.get("data") is None:
        if required:
            diags.add(raw, None, "missing the `data:` section: `rnncli train` needs `data: {train: FILE}`")
        return None
    return _check_section(raw["data"], DATA_ARGS, raw, "data", "data", path, diags)


def _validate_training(raw: dict, diags: Diagnostics, required: bool, plan: ModelPlan | None) -> dict | None:
    from rnncli.training.specs import LOSS_ALIASES, LOSSES, METRICS, OPTIMIZERS

    if raw.get("training") is None:
        if required:
            diags.add(raw, None, "missing the `training:` section: `rnncli train` needs at least `training: {loss: mse}`")
        return None
    section = raw["training"]
    result = _check_section(section, TRAINING_ARGS, raw, "training", "training", Path("."), diags)
    if result is None:
        return None
    loss = result["loss"]
    losses = list(LOSSES) + list(LOSS_ALIASES)
    if loss not in losses:
        diags.add(section, "loss", f"training.loss: unknown loss {show(loss)}{suggest(loss, losses)}")
    for i, metric in enumerate(result["metrics"]):
        if metric not in METRICS:
            container = section["metrics"] if isinstance(section["metrics"], list) else section
            diags.add(container, i if container is not section else "metrics",
                      f"training.metrics: unknown metric {show(metric)}{suggest(metric, list(METRICS))}")
    result["optimizer"] = _validate_optimizer(result["optimizer"], section, diags, OPTIMIZERS)
    result["callbacks"] = _validate_callbacks(result["callbacks"], section, diags)
    result["checkpoint"] = _check_section(result["checkpoint"] or {}, CHECKPOINT_ARGS, section, "checkpoint",
                                          "training.checkpoint", Path("."), diags)
    result["reset_states"] = _validate_reset_states(result["reset_states"], section, diags)
    result["class_weight"] = validate_weighting(raw, section, result, plan, diags)
    _check_monitors(raw, section, result, diags)
    if plan is not None and plan.stateful:
        batch = plan.batch_size
        if "batch_size" in section and result["batch_size"] != batch:
            diags.add(section, "batch_size", f"training.batch_size is {result['batch_size']} but the stateful model's "
                      f"batch_input_shape fixes it to {batch}; remove `batch_size` or make them equal")
        result["batch_size"] = batch
        if section.get("shuffle") is True:
            diags.add(section, "shuffle", "training.shuffle: a stateful model must not shuffle (sample i of batch k+1 "
                      "continues sample i of batch k); set `shuffle: false`")
        result["shuffle"] = False
        if result.get("distribute", "none") != "none":
            diags.add(section, "distribute" if "distribute" in section else "batch_size",
                      f"training.distribute: {result['distribute']} cannot train a stateful model: each state row "
                      f"belongs to one stream, and splitting the batch across replicas would break the Keras 1 "
                      f"contract that row i of batch k+1 continues row i of batch k; use `distribute: none`")
    elif "reset_states" in section and plan is not None:
        diags.add(section, "reset_states", "training.reset_states only applies to models with a stateful layer")
    return result


def _check_monitors(raw: dict, section: dict, result: dict, diags: Diagnostics) -> None:
    """Callbacks and checkpoints may only watch quantities that training reports."""
    from rnncli.training.specs import metric_key

    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    has_validation = bool(data.get("validation") or data.get("validation_split"))
    names = ["loss"]
    for metric in result["metrics"]:
        try:
            names.append(metric_key(metric))
        except ValueError:
            pass  # already reported as an unknown metric
    available = names + [f"val_{n}" for n in names] if has_validation else names
    watchers = [(f"training.callbacks.{name}", (section.get("callbacks") or {}).get(name), cfg)
                for name, cfg in (result.get("callbacks") or {}).items()]
    if isinstance(section.get("checkpoint"), dict) and "monitor" in section["checkpoint"] and result["checkpoint"]:
        watchers.append(("training.checkpoint", section["checkpoint"], result["checkpoint"]))
    for where_text, source, cfg in watchers:
        monitor = cfg["monitor"]
        if monitor in available:
            continue
        container = source if isinstance(source, dict) and "monitor" in source else section
        key = "monitor" if container is source else "callbacks"
        if monitor.startswith("val_") and monitor[4:] in names and not has_validation:
            diags.add(container, key, f"{where_text}.monitor: `{monitor}` needs validation data; add "
                      f"`data.validation` or `data.validation_split`, or monitor `{monitor[4:]}`")
        else:
            diags.add(container, key, f"{where_text}.monitor: training does not report `{monitor}`"
                      f"{suggest(monitor, available)}; it reports {', '.join(available)}")


def _validate_optimizer(value: Any, section: dict, diags: Diagnostics, optimizers: dict) -> dict | None:
    if isinstance(value, str):
        value = {"name": value}
        container, key = section, "optimizer"
    elif isinstance(value, dict):
        container, key = value, "name"
    else:
        diags.add(section, "optimizer", f"training.optimizer must be a name or a mapping, got {type_name(value)}")
        return None
    name = value.get("name")
    if not isinstance(name, str) or name not in optimizers:
        target = (container, key) if "name" in value or container is section else (section, "optimizer")
        diags.add(*target, f"training.optimizer: unknown optimizer {show(name)}"
                  f"{suggest(name, list(optimizers))}; expected one of {', '.join(optimizers)}")
        return None
    declared = optimizers[name]
    if isinstance(section.get("optimizer"), dict):
        check_unknown_keys(diags, value, ["name"] + list(declared), "training.optimizer", f"optimizer `{name}`")
    result = {"name": name}
    for arg_name, (kind, default, help_text) in declared.items():
        given = value.get(arg_name, default)
        if given is None:
            result[arg_name] = None
            continue
        arg = Arg(arg_name, "bool" if kind is bool else "float", default, help_text, low=0.0,
                  nullable=default is None)
        checked = check_value(diags, arg, given, value, arg_name, "training.optimizer")
        result[arg_name] = None if checked is INVALID else checked
    return result


def _validate_callbacks(value: Any, section: dict, diags: Diagnostics) -> dict:
    if value is None:
        return {}
    if not isinstance(value, dict):
        diags.add(section, "callbacks", f"training.callbacks must be a mapping, got {type_name(value)}")
        return {}
    check_unknown_keys(diags, value, list(CALLBACK_ARGS), "training.callbacks", "callbacks")
    result = {}
    for name, args in CALLBACK_ARGS.items():
        if name in value:
            checked = _check_section(value[name] or {}, args, value, name, f"training.callbacks.{name}", Path("."),
                                     diags)
            if checked is not None:
                result[name] = checked
    return result


def _validate_reset_states(value: Any, section: dict, diags: Diagnostics) -> Any:
    if value in ("epoch", "never"):
        return value
    if isinstance(value, dict) and set(value) == {"every_n_batches"}:
        n = value["every_n_batches"]
        if isinstance(n, int) and not isinstance(n, bool) and n >= 1:
            return {"every_n_batches": n}
    diags.add(section, "reset_states", f"training.reset_states must be `epoch`, `never` or `{{every_n_batches: N}}` "
              f"with N >= 1, got {show(value)}")
    return "epoch"
