"""The ``tune:`` section (``rnncli tune``): its declarations and its validator.

A search space names config keys by dotted path (list items by index, as ``--set`` does) and says how to draw
each one::

    tune:
      metric: val_loss                 # any history column
      trials: 20
      sampler: tpe                     # or random, grid, or {name: tpe, seed: 7, startup_trials: 5}
      pruner: {name: median, startup_trials: 2}
      space:
        model.layers.0.type: {choice: [LSTM, GRU]}
        model.layers.0.output_dim: {int: [16, 256], log: true}
        model.layers.0.forget_bias_init: {choice: [one, zero], when: {model.layers.0.type: LSTM}}
        training.optimizer.lr: {float: [1.0e-4, 1.0e-1], log: true}

Every value a space can produce is checked against the ``Arg`` of the key it lands on (both bounds of a range,
every choice) here, before any trial runs, so a space that could produce an invalid config is refused at
FILE:LINE:COL naming the key and the offending bound. Nothing here imports TensorFlow.

>>> from rnncli.config.values import Diagnostics
>>> diags = Diagnostics("<doc>")
>>> raw = {"model": {"layers": [{"type": "LSTM", "output_dim": 8, "input_shape": [5, 2]}]},
...        "tune": {"metric": "loss", "space": {"model.layers.0.output_dim": {"int": [0, 8]}}}}
>>> validate_tune(raw, diags) is None, diags.items[0].message
(True, 'tune.space.model.layers.0.output_dim: the low bound 0 is not allowed: model.layers.0.output_dim must be a positive integer, got 0')
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any

from rnncli.config.args import LAYER_SPECS, REQUIRED, Arg
from rnncli.config.section_args import CALLBACK_ARGS, CHECKPOINT_ARGS, DATA_ARGS, LR_SCHEDULE_ARGS, TOP_LEVEL_ARGS, \
    TRAINING_ARGS
from rnncli.config.sections import resolve_args
from rnncli.config.training_specs import OPTIMIZER_CLASS_NAMES, OPTIMIZERS, metric_key
from rnncli.config.values import INVALID, Diagnostics, check_unknown_keys, check_value, show, suggest, type_name

TUNE_ARGS = (
    Arg("metric", "str", "val_loss", "The history column a trial is judged by (`val_loss`, `val_acc`, `loss`, "
        "...): a trial's value is its best epoch's value of it, and the pruner sees it after every epoch."),
    Arg("direction", "choice", "auto", "`minimize`, `maximize`, or `auto` (maximize accuracies, precision, recall "
        "and F scores, minimize the rest; Keras 1's rule).", choices=("auto", "minimize", "maximize")),
    Arg("trials", "int", 20, "How many trials the study runs in all (`--trials` overrides it; finished, pruned "
        "and failed trials count, a trial cut by an interrupt is resumed, not counted twice).", low=1, high=100_000),
    Arg("timeout", "float", None, "Start no new trial after this many seconds of this process (`--timeout`).",
        low=0.0, low_open=True, nullable=True),
    Arg("sampler", "any", "tpe", "`tpe` (default), `random` or `grid`, or a mapping `{name: tpe, seed: N, "
        "startup_trials: N}`."),
    Arg("pruner", "any", None, "Stop unpromising trials after an epoch: `median`, `successive_halving` or a "
        "mapping `{name: median, startup_trials: 5, warmup_epochs: 0}`; null: no pruning.", nullable=True),
    Arg("space", "any", REQUIRED, "Dotted config path -> `{int: [low, high]}`, `{float: [low, high]}` (with "
        "`log: true`, `step: S`), or `{choice: [a, b, ...]}`; `when: {path: value}` draws a key only when an "
        "earlier key of the space took that value (or one of a list of values)."),
)

_SEED = Arg("seed", "int", None, "Seed of the sampler (default: the config's `seed`).", low=0, high=2**31 - 1,
            nullable=True)
SAMPLER_ARGS = {
    "tpe": (_SEED, Arg("startup_trials", "int", 10, "Random trials before TPE models the space.", low=0)),
    "random": (_SEED,),
    "grid": (_SEED,),
}
PRUNER_ARGS = {
    "median": (
        Arg("startup_trials", "int", 5, "Trials that finish before any is pruned.", low=0),
        Arg("warmup_epochs", "int", 0, "Epochs of each trial before it may be pruned.", low=0),
    ),
    "successive_halving": (
        Arg("min_epochs", "int", 1, "Epochs before the first rung (Optuna's `min_resource`).", low=1),
        Arg("reduction_factor", "int", 3, "Only the best 1/reduction_factor of the trials climb each rung.", low=2),
    ),
}
ENTRY_KINDS = ("int", "float", "choice")
ENTRY_KEYS = ENTRY_KINDS + ("log", "step", "when")
MAX_GRID = 10_000
_HIGHER_IS_BETTER = ("precision", "recall", "fbeta_score", "fmeasure")


def direction_for(metric: str, direction: str) -> str:
    """``minimize`` or ``maximize`` (``auto``: maximize accuracies and precision/recall/F, as the checkpoints do).

    >>> direction_for("val_acc", "auto"), direction_for("val_loss", "auto"), direction_for("loss", "maximize")
    ('maximize', 'minimize', 'maximize')
    """
    if direction != "auto":
        return direction
    name = metric[4:] if metric.startswith("val_") else metric
    return "maximize" if "acc" in metric or name in _HIGHER_IS_BETTER else "minimize"


def validate_tune(raw: dict, diags: Diagnostics, reported: list[str] | None = None) -> dict | None:
    """The resolved ``tune:`` section (or None without one, or after reporting its problems)."""
    if raw.get("tune") is None:
        return None
    section = raw["tune"]
    if not isinstance(section, dict):
        diags.add(raw, "tune", f"tune must be a mapping with `space:`, got {type_name(section)}")
        return None
    before = len(diags.items)
    check_unknown_keys(diags, section, [a.name for a in TUNE_ARGS], "tune", "the tune section")
    result = resolve_args(TUNE_ARGS, section, raw, "tune", "tune", "", Path("."), diags)
    if result is None:
        return None
    result["direction"] = direction_for(result["metric"], result["direction"])
    _check_metric(raw, section, result["metric"], diags, reported)
    result["sampler"] = _named(result["sampler"], SAMPLER_ARGS, section, "sampler", diags)
    result["pruner"] = _named(result["pruner"], PRUNER_ARGS, section, "pruner", diags)
    result["space"] = _validate_space(raw, section, diags)
    if result["sampler"] is not None and result["space"] is not None and result["sampler"]["name"] == "grid":
        _check_grid(result["space"], section, diags)
    return result if len(diags.items) == before else None


def _check_metric(raw: dict, section: dict, metric: str, diags: Diagnostics, reported: list[str] | None = None
                  ) -> None:
    """``reported``: what training reports (without ``val_``) when not ``loss`` and the metrics (a graph's names)."""
    training = raw.get("training") if isinstance(raw.get("training"), dict) else {}
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    names = list(reported) if reported is not None else ["loss"]
    metrics = (training.get("metrics") or []) if reported is None else []
    for name in [metrics] if isinstance(metrics, str) else metrics:
        try:
            names.append(metric_key(name))
        except (ValueError, TypeError):
            pass  # reported by the training section
    validation = bool(data.get("validation") or data.get("validation_split"))
    available = names + ([f"val_{n}" for n in names] if validation else [])
    if metric in available:
        return
    if metric.startswith("val_") and metric[4:] in names:
        diags.add(section, "metric", f"tune.metric: `{metric}` needs validation data; add `data.validation` or "
                  f"`data.validation_split`, or tune on `{metric[4:]}`")
    else:
        diags.add(section, "metric", f"tune.metric: training does not report `{metric}`{suggest(metric, available)}"
                  f"; it reports {', '.join(available)}")


def _named(value: Any, declared: dict[str, tuple[Arg, ...]], section: dict, key: str, diags: Diagnostics
           ) -> dict | None:
    """``sampler``/``pruner``: a name or ``{name, ...}``, resolved with the defaults of that name's ``Arg``s."""
    if value is None:
        return None
    mapping = {"name": value} if isinstance(value, str) else value
    if not isinstance(mapping, dict):
        diags.add(section, key, f"tune.{key} must be a name ({', '.join(declared)}) or a mapping with `name`, got "
                  f"{type_name(value)}")
        return None
    name = mapping.get("name")
    if name not in declared:
        container, at = (mapping, "name") if isinstance(value, dict) and "name" in mapping else (section, key)
        diags.add(container, at, f"tune.{key}: unknown {key} {show(name)}{suggest(name, list(declared))}; expected "
                  f"one of {', '.join(declared)}")
        return None
    args = declared[name]
    if isinstance(value, dict):
        check_unknown_keys(diags, value, ["name"] + [a.name for a in args], f"tune.{key}", f"{key} `{name}`")
    resolved = resolve_args(args, mapping, section, key, f"tune.{key}", "", Path("."), diags)
    return None if resolved is None else {"name": name, **resolved}


# -- the space -----------------------------------------------------------------------------------------------------

def _validate_space(raw: dict, section: dict, diags: Diagnostics) -> list[dict] | None:
    space = section.get("space")
    if not isinstance(space, dict) or not space:
        diags.add(section, "space", f"tune.space must be a non-empty mapping of config paths to `{{int: ...}}`, "
                  f"`{{float: ...}}` or `{{choice: ...}}`, got {type_name(space)}")
        return None
    entries: list[dict] = []
    for path, spec in space.items():
        entry = _entry(path, spec, space, entries, diags)
        if entry is not None:
            entries.append(entry)
    if len(entries) != len(space):
        return None
    before = len(diags.items)
    for entry in entries:
        _check_against_args(raw, entry, entries, space, diags)
    return entries if len(diags.items) == before else None


def _entry(path: Any, spec: Any, space: dict, earlier: list[dict], diags: Diagnostics) -> dict | None:
    full = f"tune.space.{path}"
    if not isinstance(path, str) or not path or any(not part for part in path.split(".")):
        diags.add(space, path, f"tune.space: {show(path)} is not a dotted config path like `model.layers.0.output_dim`")
        return None
    if not isinstance(spec, dict):
        diags.add(space, path, f"{full} must be a mapping `{{int: [low, high]}}`, `{{float: [low, high]}}` or "
                  f"`{{choice: [...]}}`, got {type_name(spec)}")
        return None
    check_unknown_keys(diags, spec, list(ENTRY_KEYS), full, "a search space entry")
    kinds = [k for k in ENTRY_KINDS if k in spec]
    if len(kinds) != 1:
        diags.add(space, path, f"{full}: give exactly one of `int`, `float` or `choice`"
                  + (f", not {' and '.join(kinds)}" if kinds else ""))
        return None
    kind = kinds[0]
    entry: dict[str, Any] = {"path": path, "kind": kind, "when": None}
    if kind == "choice":
        options = spec["choice"]
        if not isinstance(options, list) or not options or any(isinstance(o, (dict, list)) for o in options):
            diags.add(spec, "choice", f"{full}.choice must be a non-empty list of plain values (numbers, strings, "
                      f"booleans, null), got {type_name(options)}")
            return None
        if len(set(map(repr, options))) != len(options):
            diags.add(spec, "choice", f"{full}.choice lists a value twice")
            return None
        for key in ("log", "step"):
            if key in spec:
                diags.add(spec, key, f"{full}.{key} applies to `int` and `float` ranges, not to `choice`")
                return None
        entry["choices"] = list(options)
    else:
        entry.update(_range(kind, spec, full, diags) or {})
        if "low" not in entry:
            return None
    if "when" in spec:
        entry["when"] = _when(spec, full, earlier, diags)
        if entry["when"] is None:
            return None
    return entry


def _range(kind: str, spec: dict, full: str, diags: Diagnostics) -> dict | None:
    bounds = spec[kind]
    number = (lambda v: isinstance(v, int) and not isinstance(v, bool)) if kind == "int" else \
        (lambda v: isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v))
    if not isinstance(bounds, list) or len(bounds) != 2 or not all(number(b) for b in bounds):
        diags.add(spec, kind, f"{full}.{kind} must be a list [low, high] of {'integers' if kind == 'int' else 'numbers'}"
                  f", got {show(bounds)}")
        return None
    low, high = bounds
    if low > high:
        diags.add(spec, kind, f"{full}.{kind}: low {low} is above high {high}")
        return None
    log = spec.get("log", False)
    if not isinstance(log, bool):
        diags.add(spec, "log", f"{full}.log must be true or false, got {show(log)}")
        return None
    if log and low <= 0:
        diags.add(spec, kind, f"{full}.{kind}: a log range needs low > 0, got {low}")
        return None
    step = spec.get("step")
    if step is not None:
        if not number(step) or step <= 0:
            diags.add(spec, "step", f"{full}.step must be a positive {'integer' if kind == 'int' else 'number'}, got "
                      f"{show(step)}")
            return None
        if log and not (kind == "int" and step == 1):
            diags.add(spec, "step", f"{full}: `step` and `log: true` do not go together (Optuna samples a log range "
                      f"continuously)")
            return None
    if kind == "int":
        step = step or 1
        high = low + (high - low) // step * step  # the highest value the range reaches
        return {"low": low, "high": high, "log": log, "step": step}
    return {"low": float(low), "high": float(high), "log": log, "step": None if step is None else float(step)}


def _when(spec: dict, full: str, earlier: list[dict], diags: Diagnostics) -> dict | None:
    condition = spec["when"]
    if not isinstance(condition, dict) or not condition:
        diags.add(spec, "when", f"{full}.when must be a mapping {{earlier path: value or [values]}}, got "
                  f"{type_name(condition)}")
        return None
    choices = {e["path"]: e for e in earlier if e["kind"] == "choice"}
    result = {}
    for path, wanted in condition.items():
        if path not in choices:
            diags.add(condition, path, f"{full}.when: `{path}` is not a `choice` entry listed before this one in "
                      f"tune.space{suggest(str(path), list(choices))}")
            return None
        values = wanted if isinstance(wanted, list) else [wanted]
        unknown = [v for v in values if v not in choices[path]["choices"]]
        if unknown or not values:
            diags.add(condition, path, f"{full}.when: {show(unknown[0] if unknown else wanted)} is not one of the "
                      f"choices of `{path}` ({', '.join(map(str, choices[path]['choices']))})")
            return None
        result[path] = values
    return result


def candidates(entry: dict) -> list[tuple[str, Any]]:
    """The values to check of an entry, named for messages: both bounds of a range, every choice."""
    if entry["kind"] == "choice":
        return [(f"the choice {show(v)}", v) for v in entry["choices"]]
    return [(f"the low bound {show(entry['low'])}", entry["low"]), (f"the high bound {show(entry['high'])}",
                                                                    entry["high"])]


def _check_against_args(raw: dict, entry: dict, entries: list[dict], space: dict, diags: Diagnostics) -> None:
    """Check every value ``entry`` can produce against the ``Arg`` of its key, for every layer type or optimizer
    the key can belong to (a ``when`` condition narrows them)."""
    path = entry["path"]
    found = resolve_path_args(raw, path, entries, entry["when"] or {})
    if isinstance(found, str):
        diags.add(space, path, f"tune.space.{path}: {found}")
        return
    for label, value in candidates(entry):
        for owner, arg in found:
            scratch = Diagnostics("<tune>")
            dotted = path.rsplit(".", 1)[0]
            checked = check_value(scratch, arg, value, {}, arg.name, dotted)
            if checked is INVALID:
                where_text = f" (for {owner})" if owner else ""
                diags.add(space, path, f"tune.space.{path}: {label} is not allowed{where_text}: "
                          f"{scratch.items[0].message}")
                return


def _options(raw_value: Any, path: str, entries: list[dict], when: dict, default: Any) -> list:
    """The values a key can take in a trial: the space's choices for it (narrowed by ``when``), else the config's."""
    if path in when:
        return list(when[path])
    for entry in entries:
        if entry["path"] == path and entry["kind"] == "choice":
            return list(entry["choices"])
    return [default if raw_value is None else raw_value]


def resolve_path_args(raw: dict, path: str, entries: list[dict], when: dict) -> list[tuple[str, Arg]] | str:
    """The ``Arg`` declarations a dotted path lands on, each with what owns it (a layer type, an optimizer), or a
    message saying why the path names no config key."""
    parts = path.split(".")
    head = parts[0]
    top = {a.name: a for a in TOP_LEVEL_ARGS}
    if head not in top or head == "tune":
        return f"unknown top-level key `{head}`{suggest(head, ['seed', 'model', 'data', 'training'])}"
    if head == "seed":
        return [("", top["seed"])] if len(parts) == 1 else "`seed` is a number, it has no keys"
    if len(parts) == 1:
        return f"`{head}` is a section; name one of its keys (e.g. `{head}.KEY`)"
    if head == "data":
        return _flat(DATA_ARGS, parts[1:], "data")
    if head == "training":
        return _training_args(raw, parts[1:], path, entries, when)
    return _model_args(raw, parts[1:], path, entries, when)


def _flat(args: tuple[Arg, ...], rest: list[str], where_text: str, owner: str = "") -> list[tuple[str, Arg]] | str:
    index = {a.name: a for a in args}
    if len(rest) != 1 or rest[0] not in index:
        name = rest[0]
        return f"`{name}` is not a key of {where_text}{suggest(name, list(index))}" if name not in index else \
            f"`{where_text}.{name}` has no keys"
    return [(owner, index[rest[0]])]


def _training_args(raw: dict, rest: list[str], path: str, entries: list[dict], when: dict
                   ) -> list[tuple[str, Arg]] | str:
    training = raw.get("training") if isinstance(raw.get("training"), dict) else {}
    name = rest[0]
    if name == "optimizer" and len(rest) == 2:
        given = training.get("optimizer", "rmsprop")
        given = given.get("name", "rmsprop") if isinstance(given, dict) else given
        if rest[1] == "name":
            return [("", Arg("name", "choice", "rmsprop", choices=tuple(OPTIMIZERS) + tuple(OPTIMIZER_CLASS_NAMES)))]
        found = []
        for option in _options(given, "training.optimizer.name", entries, when, "rmsprop"):
            option = OPTIMIZER_CLASS_NAMES.get(option, option)
            args = OPTIMIZERS.get(option, ())
            arg = next((a for a in args if a.name == rest[1]), None)
            if arg is None:
                return f"optimizer `{option}` has no argument `{rest[1]}`{suggest(rest[1], [a.name for a in args])}"
            found.append((f"optimizer {option}", arg))
        return found
    if name == "checkpoint" and len(rest) == 2:
        return _flat(CHECKPOINT_ARGS, rest[1:], "training.checkpoint")
    if name == "callbacks" and len(rest) == 3 and rest[1] in CALLBACK_ARGS:
        return _flat(CALLBACK_ARGS[rest[1]], rest[2:], f"training.callbacks.{rest[1]}")
    if name == "lr_schedule" and len(rest) == 2:
        schedule = training.get("lr_schedule") if isinstance(training.get("lr_schedule"), dict) else {}
        if rest[1] == "name" or schedule.get("name") not in LR_SCHEDULE_ARGS:
            return "tune a schedule's numbers (`training.lr_schedule.KEY`) of a config that names the schedule"
        return _flat(LR_SCHEDULE_ARGS[schedule["name"]], rest[1:], "training.lr_schedule")
    if name in ("optimizer", "checkpoint", "callbacks", "lr_schedule"):
        return f"`{path}` is not a key rnncli tune can set; name one value (e.g. `training.optimizer.lr`)"
    return _flat(TRAINING_ARGS, rest, "training")


def _model_args(raw: dict, rest: list[str], path: str, entries: list[dict], when: dict) -> list[tuple[str, Arg]] | str:
    model = raw.get("model") if isinstance(raw.get("model"), dict) else {}
    layers = model.get("layers") if isinstance(model.get("layers"), list) else []
    if rest[0] != "layers" or len(rest) < 3 or not rest[1].isdigit():
        return "name a layer's key as `model.layers.N.KEY`"
    index = int(rest[1])
    if index >= len(layers):
        return f"model.layers has {len(layers)} layers (valid indices: 0..{len(layers) - 1})"
    layer = layers[index] if isinstance(layers[index], dict) else {}
    prefix = f"model.layers.{index}"
    keys = rest[2:]
    if keys[0] == "layer" and len(keys) == 2:  # the layer a wrapper holds
        layer = layer.get("layer") if isinstance(layer.get("layer"), dict) else {}
        prefix, keys = f"{prefix}.layer", keys[1:]
    if len(keys) != 1:
        return f"`{path}` is not a layer key rnncli tune can set"
    if keys[0] == "type":
        return [("", Arg("type", "choice", None, choices=tuple(LAYER_SPECS)))]
    found = []
    for kind in _options(layer.get("type"), f"{prefix}.type", entries, when, None):
        spec = LAYER_SPECS.get(kind)
        if spec is None:
            return f"{prefix} has no known layer type"
        arg = spec.arg_index.get(keys[0])
        if arg is None:
            hint = suggest(keys[0], list(spec.arg_index))
            also = f"; add `when: {{{prefix}.type: ...}}` to draw it for some types only" \
                if f"{prefix}.type" in {e['path'] for e in entries} else ""
            return f"a {kind} layer has no argument `{keys[0]}`{hint}{also}"
        if arg.kind == "path":
            return "file paths are not tunable"
        found.append((f"{kind} layers" if len(found) or f"{prefix}.type" in {e['path'] for e in entries} else "",
                      arg))
    return found


def _check_grid(entries: list[dict], section: dict, diags: Diagnostics) -> None:
    count = 1
    for entry in entries:
        if entry["when"] is not None:
            diags.add(section, "sampler", f"tune.sampler: grid search needs an unconditional space; "
                      f"tune.space.{entry['path']} has `when`")
            return
        if entry["kind"] == "float" and entry["step"] is None:
            diags.add(section, "sampler", f"tune.sampler: grid search needs a finite space; give "
                      f"tune.space.{entry['path']} a `step` or make it a `choice`")
            return
        count *= len(grid_values(entry))
    if count > MAX_GRID:
        diags.add(section, "sampler", f"tune.sampler: the grid has {count} points; at most {MAX_GRID}")


def grid_values(entry: dict) -> list:
    """Every value of a finite entry, in order (grid search).

    >>> grid_values({"kind": "int", "low": 2, "high": 8, "step": 3, "log": False})
    [2, 5, 8]
    >>> grid_values({"kind": "float", "low": 0.0, "high": 0.5, "step": 0.25, "log": False})
    [0.0, 0.25, 0.5]
    """
    if entry["kind"] == "choice":
        return list(entry["choices"])
    if entry["kind"] == "int":
        return list(range(entry["low"], entry["high"] + 1, entry["step"]))
    count = int(round((entry["high"] - entry["low"]) / entry["step"])) + 1
    return [entry["low"] + i * entry["step"] for i in range(count)
            if entry["low"] + i * entry["step"] <= entry["high"] + 1e-12]
