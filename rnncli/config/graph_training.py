"""``training:`` of a graph with several inputs or outputs: ``loss``, ``metrics`` and ``loss_weights`` per output.

Keras 1 ``compile`` semantics: ``loss`` is one objective for every output or a mapping ``{output: loss}``;
``metrics`` a list for every output or a mapping ``{output: [metrics]}``; ``loss_weights`` a mapping (or a list in
output order) of floats, default 1. The total loss is ``sum_i loss_weights[i] * loss_i`` plus regularization.
The rest of the section is checked by ``validate_training`` unchanged. The resolved section holds the mappings
(``loss``, ``metrics``, ``loss_weights`` keyed by output name), so ``config.resolved.yaml`` reads back the same.
"""

from __future__ import annotations

import copy
from typing import Any

from rnncli.config.graph_plan import GraphPlan, output_key
from rnncli.config.plan import ModelPlan
from rnncli.config.training import validate_training
from rnncli.config.training_specs import LOSS_ALIASES, LOSSES, METRICS, metric_key
from rnncli.config.values import Diagnostics, show, suggest, type_name
from rnncli.documents.yaml_loader import MarkedDict

GRAPH_ONLY_KEYS = ("loss_weights",)


def needs_graph_training(plan: ModelPlan | None) -> bool:
    """Whether a plan is a graph with several inputs or outputs (its data and training go by name)."""
    return isinstance(plan, GraphPlan) and (len(plan.inputs) > 1 or len(plan.outputs) > 1)


def reported_names(outputs: list[str], metrics: dict[str, list[str]]) -> list[str]:
    """What training a graph reports (without ``val_``), as Keras 1 names it: ``loss``, and with several outputs
    ``{output}_loss`` and ``{output}_{metric}`` (``layer:k`` spelled ``layer_k``); with one, the plain metric names.

    >>> reported_names(["out", "flag"], {"out": [], "flag": ["acc"]})
    ['loss', 'out_loss', 'flag_loss', 'flag_acc']
    """
    several = len(outputs) > 1
    names = ["loss"] + ([f"{output_key(output)}_loss" for output in outputs] if several else [])
    for output in outputs:
        prefix = f"{output_key(output)}_" if several else ""
        for metric in metrics.get(output, []):
            try:
                names.append(prefix + metric_key(metric))
            except (ValueError, TypeError):
                pass  # reported as an unknown metric
    return names


def per_output_training(section: Any) -> bool:
    """Whether a ``training:`` section uses the per-output forms (a mapping of losses or metrics, loss_weights)."""
    return isinstance(section, dict) and (isinstance(section.get("loss"), dict)
                                          or isinstance(section.get("metrics"), dict) or "loss_weights" in section)


def validate_graph_training(raw: dict, diags: Diagnostics, required: bool, plan: GraphPlan) -> dict | None:
    """The resolved ``training:`` section of a graph: per-output ``loss``/``metrics``/``loss_weights``."""
    section = raw.get("training")
    if not isinstance(section, dict):
        return validate_training(raw, diags, required, plan)
    outputs = list(plan.outputs)
    losses = _per_output(section, "loss", outputs, diags, str)
    metrics = _per_output(section, "metrics", outputs, diags, list, default=[])
    weights = _loss_weights(section, outputs, diags)
    shown = MarkedDict({k: v for k, v in section.items() if k not in GRAPH_ONLY_KEYS})
    shown.mark, shown.marks = section.mark if hasattr(section, "mark") else shown.mark, getattr(section, "marks", {})
    shown.key_marks = getattr(section, "key_marks", {})
    if losses is not None:
        shown["loss"] = next(iter(losses.values()))
    shown["metrics"] = []
    wrapper = MarkedDict(raw)
    wrapper.mark, wrapper.marks = getattr(raw, "mark", wrapper.mark), getattr(raw, "marks", {})
    wrapper["training"] = shown
    reported = None if metrics is None else reported_names(outputs, metrics)
    result = validate_training(wrapper, diags, required, plan, reported)
    if result is None or losses is None or metrics is None or weights is None:
        return None
    all_losses = list(LOSSES) + list(LOSS_ALIASES)
    for name, loss in losses.items():
        if loss not in all_losses:
            container = section["loss"] if isinstance(section["loss"], dict) else section
            diags.add(container, name if container is not section else "loss",
                      f"training.loss: unknown loss {show(loss)} for output `{name}`{suggest(loss, all_losses)}")
    for name, names in metrics.items():
        for metric in names:
            if metric not in METRICS:
                diags.add(section, "metrics", f"training.metrics: unknown metric {show(metric)} for output `{name}`"
                          f"{suggest(metric, list(METRICS))}")
    if result.get("distribute", "none") != "none":
        diags.add(section, "distribute", f"training.distribute: {result['distribute']} is not supported yet for "
                  "graphs with several inputs or outputs; use `distribute: none`")
    if result.get("class_weight") or result.get("sample_weight_mode") not in (None, "none"):
        diags.add(section, None, "training: class_weight and sample_weight_mode are not supported yet for graphs "
                  "with several inputs or outputs")
    result.update(loss=losses, metrics=metrics, loss_weights=weights)
    return result


def _per_output(section: dict, key: str, outputs: list[str], diags: Diagnostics, kind: type,
                default: Any = None) -> dict | None:
    if key not in section:
        if default is None:
            return None  # validate_training reports the missing loss
        return {name: copy.deepcopy(default) for name in outputs}
    value = section[key]
    if isinstance(value, dict):
        ok = True
        for name in value:
            if name not in outputs:
                diags.add(value, name, f"training.{key}: no output named `{name}`{suggest(str(name), outputs)}; the "
                          f"outputs are {', '.join(outputs)}")
                ok = False
        missing = [name for name in outputs if name not in value]
        if missing and default is None:
            diags.add(section, key, f"training.{key}: no {key} for output{'s' if len(missing) > 1 else ''} "
                      f"{', '.join(missing)}")
            ok = False
        result = {name: value.get(name, copy.deepcopy(default)) for name in outputs}
        for name, item in result.items():
            if kind is list and isinstance(item, str):
                result[name] = [item]
            elif not isinstance(result[name], kind):
                diags.add(value, name, f"training.{key}.{name} must be {'a list' if kind is list else 'a name'}, "
                          f"got {type_name(item)}")
                ok = False
        return result if ok else None
    if kind is str and isinstance(value, str):
        return {name: value for name in outputs}
    if kind is list and isinstance(value, list) and all(isinstance(v, str) for v in value):
        return {name: list(value) for name in outputs}
    diags.add(section, key, f"training.{key} must be {'a loss name' if kind is str else 'a list of metrics'} or a "
              f"mapping of output names to it, got {type_name(value)}")
    return None


def _loss_weights(section: dict, outputs: list[str], diags: Diagnostics) -> dict | None:
    value = section.get("loss_weights")
    if value is None:
        return {name: 1.0 for name in outputs}
    if isinstance(value, list):
        if len(value) != len(outputs):
            diags.add(section, "loss_weights", f"training.loss_weights has {len(value)} entries for "
                      f"{len(outputs)} outputs ({', '.join(outputs)})")
            return None
        value = dict(zip(outputs, value))
    elif isinstance(value, dict):
        for name in value:
            if name not in outputs:
                diags.add(value, name, f"training.loss_weights: no output named `{name}`"
                          f"{suggest(str(name), outputs)}")
                return None
    else:
        diags.add(section, "loss_weights", f"training.loss_weights must be a mapping of output names to weights, "
                  f"got {type_name(value)}")
        return None
    result = {}
    for name in outputs:
        weight = value.get(name, 1.0)
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or weight < 0:
            diags.add(section, "loss_weights", f"training.loss_weights.{name} must be a number >= 0, got "
                      f"{show(weight)}")
            return None
        result[name] = float(weight)
    return result
