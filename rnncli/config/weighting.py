"""Config checks of Keras 1's loss weighting: ``training.class_weight``, ``training.sample_weight_mode`` and the
``data.sample_weight*`` keys, against each other and against the model's output shape.

Kept apart from ``validate`` so that module stays about one thing; pure Python (no TensorFlow, no numpy).
"""

from __future__ import annotations

import math
from typing import Any

from rnncli.config.plan import ModelPlan, fmt_shape
from rnncli.config.values import Diagnostics, show, type_name


def validate_weighting(raw: dict, section: dict, result: dict, plan: ModelPlan | None, diags: Diagnostics) -> Any:
    """Check the weighting keys; returns the normalised ``class_weight`` (None, ``"auto"`` or ``{int: float}``)."""
    class_weight = _class_weight(result.get("class_weight"), section, diags)
    data = raw.get("data") if isinstance(raw.get("data"), dict) else {}
    temporal = result.get("sample_weight_mode") == "temporal"
    if plan is not None:
        rank = len(plan.output_shape)
        if temporal and rank < 3:
            diags.add(section, "sample_weight_mode",
                      f"training.sample_weight_mode: temporal weighs each timestep, but the model outputs "
                      f"{fmt_shape(plan.output_shape)} without a time axis (use `return_sequences: true` on the last "
                      f"recurrent layer, or drop `sample_weight_mode`)")
        if class_weight is not None and rank >= 3:
            diags.add(section, "class_weight",
                      f"training.class_weight: not supported for outputs with a time axis "
                      f"{fmt_shape(plan.output_shape)} (as in Keras 1); give per-timestep weights with "
                      f"`data.sample_weight` and `sample_weight_mode: temporal` instead")
    if data.get("window") and any(data.get(k) for k in ("sample_weight", "sample_weight_train")):
        key = "sample_weight" if data.get("sample_weight") else "sample_weight_train"
        diags.add(data, key, f"data.{key}: plain-text (`window`) data has no sample weights")
    for key, partner in (("sample_weight_train", "train"), ("sample_weight_validation", "validation")):
        value = data.get(key)
        source = data.get(partner)
        if value and not (isinstance(source, str) and source.lower().endswith(".npy")):
            diags.add(data, key, f"data.{key} only applies when `data.{partner}` is an `x` `.npy` file; for `.npz` "
                      f"or `.csv` data name the array or column with `data.sample_weight`")
    return class_weight


def _class_weight(value: Any, section: dict, diags: Diagnostics) -> Any:
    if value is None or value == "auto":
        return value
    message = (f"training.class_weight must be `auto` or a mapping of class indices (integers >= 0) to weights "
               f"(numbers >= 0), e.g. {{0: 1.0, 1: 5.0}}")
    if not isinstance(value, dict) or not value:
        diags.add(section, "class_weight", f"{message}; got {type_name(value)} {show(value)}")
        return None
    resolved: dict[int, float] = {}
    for key, weight in value.items():
        if isinstance(key, bool) or not isinstance(key, int) or key < 0:
            diags.add(value, key, f"{message}; the key {show(key)} is not a class index")
            continue
        if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not math.isfinite(weight) \
                or weight < 0:
            diags.add(value, key, f"{message}; class {key} has weight {show(weight)}")
            continue
        resolved[key] = float(weight)
    return resolved if len(resolved) == len(value) else None
