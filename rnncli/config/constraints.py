"""Weight constraints and activity regularizers as config values (pure Python; the projections are in
``rnncli.layers.constraints``).

A constraint is ``{name: ..., <its arguments>}`` or just its name; after validation it is always the full mapping
with rnncli's name and every argument:

* ``maxnorm`` ``{m: 2.0, axis: 0}``: columns (slices along ``axis``) with an L2 norm above ``m`` scaled down to ``m``.
* ``nonneg`` ``{}``: negative entries set to zero.
* ``unitnorm`` ``{axis: 0}``: every slice divided by its L2 norm.
* ``min_max_norm`` ``{min_value: 0.0, max_value: 1.0, rate: 1.0, axis: 0}``: norms moved into
  [min_value, max_value] at ``rate`` (Keras 2).

The Keras class names (``MaxNorm``, ``NonNeg``, ``UnitNorm``, ``MinMaxNorm``), Keras 2's snake-case names
(``max_norm``, ``non_neg``, ``unit_norm``) and Keras 2's ``max_value`` for ``maxnorm`` / Keras 1's ``low``/``high``
for ``min_max_norm`` are accepted. ``axis`` is an int or a list of ints, checked against the rank of the weight it
constrains (``WEIGHT_RANKS``).

An activity regularizer is ``{l1, l2, batch_mean}``: ``l1 * sum|y| + l2 * sum(y^2)`` over the layer's output,
divided by the number of samples in the batch when ``batch_mean`` (tf.keras 2 and Keras 3, Keras 1.0's
ActivityRegularizer), summed otherwise (Keras 1.2 and standalone Keras 2.0-2.3).
"""

from __future__ import annotations

import math
from typing import Any

CONSTRAINTS: dict[str, dict[str, Any]] = {
    "maxnorm": {"m": 2.0, "axis": 0},
    "nonneg": {},
    "unitnorm": {"axis": 0},
    "min_max_norm": {"min_value": 0.0, "max_value": 1.0, "rate": 1.0, "axis": 0},
}
_NAMES = {"maxnorm": "maxnorm", "max_norm": "maxnorm", "nonneg": "nonneg", "non_neg": "nonneg",
          "unitnorm": "unitnorm", "unit_norm": "unitnorm", "min_max_norm": "min_max_norm",
          "minmaxnorm": "min_max_norm"}
_ALIASES = {"maxnorm": {"max_value": "m"}, "min_max_norm": {"low": "min_value", "high": "max_value"}}

# the rank of the weight each constraint key applies to, by layer type (rnncli's layouts, which are Keras 2/3's)
WEIGHT_RANKS: dict[str, dict[str, int]] = {
    "Dense": {"W_constraint": 2, "b_constraint": 1},
    "Embedding": {"W_constraint": 2},
    "Convolution1D": {"W_constraint": 3, "b_constraint": 1},
    "BatchNormalization": {"gamma_constraint": 1, "beta_constraint": 1},
    **{kind: {"W_constraint": 2, "U_constraint": 2, "b_constraint": 1} for kind in ("SimpleRNN", "GRU", "LSTM")},
}

CONSTRAINT_HELP = ("Projection applied to the weight after every optimizer update (Keras constraints), or null: "
                   "`maxnorm` `{m: 2, axis: 0}`, `nonneg`, `unitnorm` `{axis: 0}`, `min_max_norm` "
                   "`{min_value: 0, max_value: 1, rate: 1, axis: 0}`; e.g. `{name: maxnorm, m: 3}`.")
RECURRENT_CONSTRAINT_HELP = (CONSTRAINT_HELP + " Applied to the fused matrix as Keras 2/3 store it (`[D, G*u]`, "
                             "`[u, G*u]`, bias `[G*u]` or `[2, 3u]`); with `axis: 0` every column lies in one gate, "
                             "so the result equals the per-gate one.")
ACTIVITY_HELP = ("Penalty on the layer's output `{l1: 0.0, l2: 0.01, batch_mean: false}` added to the loss "
                 "(l1 sum|y| + l2 sum y^2 over the batch's samples; divided by their number with `batch_mean: "
                 "true`, as tf.keras 2 and Keras 3 do), or null. Not inside TimeDistributed or Bidirectional.")


def canonical_name(name: Any) -> str | None:
    """rnncli's name for a constraint name in any Keras spelling (``MaxNorm``, ``max_norm``), or None."""
    if not isinstance(name, str):
        return None
    return _NAMES.get(name.lower()) or _NAMES.get(name.lower().replace("_", ""))


def check_constraint(value: Any, full: str) -> tuple[dict | None, list[tuple[Any, Any, str]]]:
    """``(canonical mapping, [])`` or ``(None, [(container, key, message), ...])`` for a constraint value; a
    container of None means the value itself."""
    if isinstance(value, str):
        value = {"name": value}
    if not isinstance(value, dict):
        return None, [(None, None, f"{full} must be a constraint name or mapping like {{name: maxnorm, m: 2}}, got "
                                   f"{value!r}")]
    name = canonical_name(value.get("name"))
    if name is None:
        return None, [(value, "name" if "name" in value else None,
                       f"{full}: unknown constraint {value.get('name')!r}; expected one of "
                       + ", ".join(f"`{n}`" for n in CONSTRAINTS))]
    result: dict[str, Any] = {"name": name, **CONSTRAINTS[name]}
    problems = []
    for key, given in value.items():
        if key == "name":
            continue
        target = _ALIASES.get(name, {}).get(key, key)
        if target not in CONSTRAINTS[name]:
            allowed = ", ".join(f"`{k}`" for k in CONSTRAINTS[name]) or "no arguments"
            problems.append((value, key, f"{full}: constraint `{name}` has no argument `{key}` (it takes {allowed})"))
            continue
        if target == "axis":
            axes = given if isinstance(given, list) else [given]
            if not axes or any(isinstance(a, bool) or not isinstance(a, int) for a in axes):
                problems.append((value, key, f"{full}.axis must be an integer or a list of integers, got {given!r}"))
                continue
            result["axis"] = list(axes) if isinstance(given, list) else given
            continue
        if isinstance(given, bool) or not isinstance(given, (int, float)) or not math.isfinite(given) or given < 0:
            problems.append((value, key, f"{full}.{key} must be a number >= 0, got {given!r}"))
            continue
        result[target] = float(given)
    if name == "min_max_norm" and not problems:
        if result["min_value"] > result["max_value"]:
            problems.append((value, None, f"{full}: min_value {result['min_value']} is above max_value "
                                          f"{result['max_value']}"))
        if result["rate"] > 1.0:
            problems.append((value, "rate", f"{full}.rate must be in [0, 1], got {result['rate']}"))
    return (None, problems) if problems else (result, [])


def axis_problem(constraint: dict, rank: int) -> str | None:
    """Why ``constraint``'s axis does not fit a weight of ``rank`` dimensions, or None."""
    if "axis" not in constraint:
        return None
    axes = constraint["axis"] if isinstance(constraint["axis"], list) else [constraint["axis"]]
    bad = [a for a in axes if not -rank <= a < rank]
    if bad:
        return f"axis {bad[0]} is out of range for a weight of rank {rank} (axes -{rank}..{rank - 1})"
    if len({a % rank for a in axes}) != len(axes):
        return f"axis {constraint['axis']} names an axis twice"
    return None


def check_activity_regularizer(value: Any, full: str) -> tuple[dict | None, list[tuple[Any, Any, str]]]:
    """``({l1, l2, batch_mean}, [])`` or ``(None, problems)`` as ``check_constraint``."""
    if not isinstance(value, dict):
        return None, [(None, None, f"{full} must be a mapping like {{l1: 0.0, l2: 0.01, batch_mean: false}} or "
                                   f"null, got {value!r}")]
    problems = []
    result: dict[str, Any] = {"l1": 0.0, "l2": 0.0, "batch_mean": False}
    for key, given in value.items():
        if key == "batch_mean":
            if not isinstance(given, bool):
                problems.append((value, key, f"{full}.batch_mean must be true or false, got {given!r}"))
            result["batch_mean"] = given
        elif key in ("l1", "l2"):
            if isinstance(given, bool) or not isinstance(given, (int, float)) or not math.isfinite(given) \
                    or given < 0:
                problems.append((value, key, f"{full}.{key} must be a number >= 0, got {given!r}"))
            else:
                result[key] = float(given)
        else:
            problems.append((value, key, f"{full}: unknown key `{key}` for an activity regularizer (l1, l2, "
                                         f"batch_mean)"))
    return (None, problems) if problems else (result, [])
