"""Checks of ``data.pad`` and ``data.buckets`` (sequences of different lengths), at FILE:LINE:COL, without reading
the data: the keys, the file formats (``.jsonl`` or ``.csv``), and the model's timesteps against the padding."""

from __future__ import annotations

from pathlib import Path

from rnncli.config.plan import ModelPlan, fmt_shape
from rnncli.config.section_args import PAD_ARGS
from rnncli.config.sections import check_section
from rnncli.config.values import Diagnostics

NOT_WITH_PAD = ("window", "y_train", "y_validation", "sample_weight", "sample_weight_train",
                "sample_weight_validation", "series")


def check_pad(section: dict, data: dict, plan: ModelPlan | None, diags: Diagnostics) -> None:
    """Check ``section['pad']`` (as written) and store the resolved mapping in ``data['pad']``."""
    for key in NOT_WITH_PAD:
        if section.get(key) is not None:
            diags.add(section, key, f"data.{key} does not go with data.pad (padded sequences); remove it")
    written = section["pad"]
    resolved = check_section(written, PAD_ARGS, section, "pad", "data.pad", Path("."), diags)
    data["pad"] = resolved
    if resolved is None:
        return
    length = resolved["length"]
    if length != "longest" and (not isinstance(length, int) or isinstance(length, bool) or length < 1):
        diags.add(written, "length", f"data.pad.length must be a positive int or `longest`, got {length!r}")
        return
    for key in ("train", "validation"):
        if data.get(key) and Path(data[key]).suffix.lower() not in (".jsonl", ".csv"):
            diags.add(section, key, f"data.{key}: padded sequences come from a `.jsonl` (`{{\"x\": [...], \"y\": "
                      f"...}}` per line) or a `.csv` with rows of different lengths, not a "
                      f"`{Path(data[key]).suffix}` file")
    if plan is None:
        return
    steps = plan.input_shape[1] if len(plan.input_shape) > 1 else None
    if len(plan.input_shape) not in (2, 3):
        diags.add(section, "pad", f"data.pad pads sequences, but the model input {fmt_shape(plan.input_shape)} "
                  f"is not [timesteps] or [timesteps, features]")
    elif data.get("buckets") and steps is not None:
        diags.add(section, "buckets", f"data.buckets pads each batch to its own length, but the model input "
                  f"{fmt_shape(plan.input_shape)} fixes {steps} timesteps: set them to null")
    elif steps is not None and isinstance(length, int) and length != steps:
        diags.add(written, "length", f"data.pad.length {length} differs from the model's {steps} timesteps "
                  f"({fmt_shape(plan.input_shape)})")
