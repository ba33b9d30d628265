"""The ``training:`` section: checked against its declarations (``TRAINING_ARGS``, ``CHECKPOINT_ARGS``,
``CALLBACK_ARGS`` and the optimizers' ``Arg``s in ``training_specs``), with every default taken from them.

This is the only validator of the section: ``load_config`` calls ``validate_training``, the optimizer classes
call ``resolve_optimizer`` (which runs ``check_optimizer``), and ``training_defaults`` gives the section of a config
that has none.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncli.config.section_args import CALLBACK_ARGS, CHECKPOINT_ARGS, TRAINING_ARGS
from rnncli.config.plan import ModelPlan
from rnncli.config.schedules import validate_lr_schedule
from rnncli.config.sections import check_section, resolve_args
from rnncli.config.training_specs import (
    LOSS_ALIASES,
    LOSSES,
    METRICS,
    OPTIMIZER_CLASS_NAMES,
    OPTIMIZERS,
    metric_key,
)
from rnncli.config.weighting import validate_weighting
from rnncli.config.values import Diagnostics, check_unknown_keys, show, suggest, type_name
from rnncli.documents.yaml_loader import MarkedDict


def training_defaults() -> dict:
    """The resolved section of a config without ``training:`` (inference only): the declared defaults, no loss."""
    diags = Diagnostics("<defaults>")
    result = validate_training({"training": {"loss": "mse"}}, diags, False, None)
    assert result is not None and not diags.items, diags.items
    return {**result, "loss": None}


def validate_training(raw: dict, diags: Diagnostics, required: bool, plan: ModelPlan | None,
                      reported: list[str] | None = None) -> dict | None:
    """The resolved ``training:`` section. ``reported``: the names training reports (without ``val_``) when they
    are not ``loss`` and the metrics (a graph's per-output names)."""
    if raw.get("training") is None:
        if required:
            diags.add(raw, None, "missing the `training:` section: `rnncli train` needs at least `training: {loss: mse}` "
                      "(in the file, or --set training.loss=mse)")
        return None
    section = raw["training"]
    result = check_section(section, TRAINING_ARGS, raw, "training", "training", Path("."), diags)
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
    result["optimizer"] = check_optimizer(result["optimizer"], section, diags)
    result["callbacks"] = _validate_callbacks(result["callbacks"], section, diags)
    result["checkpoint"] = check_section(result["checkpoint"] or {}, CHECKPOINT_ARGS, section, "checkpoint",
                                          "training.checkpoint", Path("."), diags)
    result["reset_states"] = _validate_reset_states(result["reset_states"], section, diags)
    result["class_weight"] = validate_weighting(raw, section, result, plan, diags)
    result["lr_schedule"] = validate_lr_schedule(result["lr_schedule"], section, diags)
    _check_monitors(raw, section, result, diags, reported)
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
        if result["distribute"] != "none":
            diags.add(section, "distribute" if "distribute" in section else "batch_size",
                      f"training.distribute: {result['distribute']} cannot train a stateful model: each state row "
                      f"belongs to one stream, and splitting the batch across replicas would break the Keras 1 "
                      f"contract that row i of batch k+1 continues row i of batch k; use `distribute: none`")
    elif section.get("reset_states", "epoch") != "epoch" and plan is not None:  # the default: resolved configs
        diags.add(section, "reset_states", "training.reset_states only applies to models with a stateful layer")
    return result


def _check_monitors(raw: dict, section: dict, result: dict, diags: Diagnostics,
                    reported: list[str] | None = None) -> None:
    """Callbacks and checkpoints may only watch quantities that training reports."""
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    series_split = ((data.get("series") or {}).get("split") or {}) if isinstance(data.get("series"), dict) else {}
    has_validation = bool(data.get("validation") or data.get("validation_split")
                          or (isinstance(series_split, dict) and series_split.get("validation")))
    names = list(reported) if reported is not None else ["loss"]
    for metric in result["metrics"] if reported is None else []:
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


def check_optimizer(value: Any, section: dict, diags: Diagnostics) -> dict | None:
    """The one optimizer validator (configs, and ``resolve_optimizer`` for Python callers): a name or a mapping
    ``{name, <argument>: value}`` checked against ``OPTIMIZERS``' declarations; returns it with every default."""
    if isinstance(value, str):
        value = {"name": value}
        container, key = section, "optimizer"
    elif isinstance(value, dict):
        container, key = value, "name"
    else:
        diags.add(section, "optimizer", f"training.optimizer must be a name or a mapping, got {type_name(value)}")
        return None
    if "name" not in value:
        diags.add(section, "optimizer", "training.optimizer: the mapping needs a `name` key, e.g. "
                  "{name: adam, lr: 0.001}")
        return None
    given = value["name"]
    name = OPTIMIZER_CLASS_NAMES.get(given, given) if isinstance(given, str) else given
    if not isinstance(name, str) or name not in OPTIMIZERS:
        diags.add(container, key, f"training.optimizer: unknown optimizer {show(given)}"
                  f"{suggest(given, list(OPTIMIZERS))}; expected one of {', '.join(OPTIMIZERS)}")
        return None
    declared = OPTIMIZERS[name]
    if name == "nadam" and "decay" in value:
        diags.add(value, "decay", "training.optimizer: `nadam` has no `decay` in Keras 1; use `schedule_decay`")
    arguments = _without(value, "decay") if name == "nadam" else value
    check_unknown_keys(diags, arguments, ["name"] + [a.name for a in declared], "training.optimizer",
                       f"optimizer `{name}`")
    resolved = resolve_args(declared, arguments, container, key, "training.optimizer", f" for {name}", Path("."),
                            diags)
    return None if resolved is None else {"name": name, **resolved}



def resolve_optimizer(spec: str | dict[str, Any]) -> dict[str, Any]:
    """Validate an optimizer spec and fill in the Keras 1 defaults (for Python callers; configs are checked by the
    same code, ``check_optimizer``, with locations).

    ``spec`` is a name (``"adam"``; Keras 1 class names such as ``"Adam"`` are accepted too) or a mapping
    ``{"name": "adam", "lr": 0.01, ...}``. Returns ``{"name": canonical_name, <every argument>: value}``, with ints
    given for float arguments converted to float. Raises ValueError naming every problem.

    >>> resolve_optimizer({"name": "adam", "lr": 0.01})["beta_2"]
    0.999
    """
    diags = Diagnostics("optimizer")
    resolved = check_optimizer(spec, {"optimizer": spec}, diags)
    if diags.items:
        raise ValueError("; ".join(d.message for d in diags.items))
    assert resolved is not None
    return resolved


def _without(mapping: dict, key: str) -> dict:
    """``mapping`` less ``key``, keeping the YAML positions (and command-line origins) of what is left."""
    if key not in mapping:
        return mapping
    rest = MarkedDict({k: v for k, v in mapping.items() if k != key})
    for attribute in ("mark", "marks", "key_marks"):
        if hasattr(mapping, attribute):
            setattr(rest, attribute, getattr(mapping, attribute))
    return rest


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
            checked = check_section(value[name] or {}, args, value, name, f"training.callbacks.{name}", Path("."),
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
