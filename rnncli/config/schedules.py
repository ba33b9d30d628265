"""``training.lr_schedule``: checked against ``LR_SCHEDULE_ARGS``; the lists of ``piecewise`` checked element by
element, each problem located at its FILE:LINE:COL.

>>> from rnncli.config.values import Diagnostics
>>> diags = Diagnostics("<doc>")
>>> validate_lr_schedule({"name": "cosine", "decay": 10}, {}, diags)["alpha"], diags.items
(0.0, [])
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncli.config.section_args import LR_SCHEDULE_ARGS
from rnncli.config.sections import resolve_args
from rnncli.config.values import Diagnostics, check_unknown_keys, show, suggest, type_name

SCHEDULES = tuple(LR_SCHEDULE_ARGS)


def validate_lr_schedule(value: Any, section: dict, diags: Diagnostics) -> dict | None:
    """The resolved schedule (``{"name", <argument>: value}`` with defaults), or None without one or on errors."""
    if value is None:
        return None
    if not isinstance(value, dict):
        diags.add(section, "lr_schedule", f"training.lr_schedule must be a mapping `{{name: ..., ...}}` with name "
                  f"one of {', '.join(SCHEDULES)}, got {type_name(value)}")
        return None
    name = value.get("name")
    if name not in LR_SCHEDULE_ARGS:
        where_key = "name" if "name" in value else None
        container = value if where_key else section
        message = "training.lr_schedule: missing `name`" if name is None else \
            f"training.lr_schedule: unknown schedule {show(name)}{suggest(str(name), list(SCHEDULES))}"
        diags.add(container, where_key or "lr_schedule", f"{message}; expected one of {', '.join(SCHEDULES)}")
        return None
    declared = LR_SCHEDULE_ARGS[name]
    check_unknown_keys(diags, value, ["name"] + [a.name for a in declared], "training.lr_schedule",
                       f"schedule `{name}`")
    resolved = resolve_args(declared, value, value, "name", "training.lr_schedule", f" for `{name}`", Path("."),
                            diags)
    if resolved is None:
        return None
    if name == "piecewise" and not _check_piecewise(value, resolved, diags):
        return None
    return {"name": name, **resolved}


def _numbers(items: Any, integer: bool) -> bool:
    kinds = (int,) if integer else (int, float)
    return isinstance(items, list) and all(isinstance(v, kinds) and not isinstance(v, bool) for v in items)


def _check_piecewise(value: dict, resolved: dict, diags: Diagnostics) -> bool:
    boundaries, factors = resolved["boundaries"], resolved["factors"]
    ok = True
    if not _numbers(boundaries, True) or not boundaries or any(b < 0 for b in boundaries):
        diags.add(value, "boundaries", f"training.lr_schedule.boundaries must be a non-empty list of integers "
                  f">= 0, got {show(boundaries)}")
        ok = False
    else:
        for i in range(1, len(boundaries)):
            if boundaries[i] <= boundaries[i - 1]:
                diags.add(value["boundaries"], i, f"training.lr_schedule.boundaries must increase: "
                          f"{boundaries[i]} follows {boundaries[i - 1]}")
                ok = False
    if not _numbers(factors, False) or any(f <= 0 for f in factors):
        diags.add(value, "factors", f"training.lr_schedule.factors must be a list of numbers > 0, got {show(factors)}")
        ok = False
    elif ok and len(factors) != len(boundaries) + 1:
        diags.add(value, "factors", f"training.lr_schedule.factors needs {len(boundaries) + 1} values (one more "
                  f"than the {len(boundaries)} boundaries), got {len(factors)}")
        ok = False
    if ok:
        resolved["factors"] = [float(f) for f in factors]
    return ok
