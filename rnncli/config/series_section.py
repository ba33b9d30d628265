"""Checks of ``data.series``: its keys, how they go with the rest of ``data:`` and the model, and (when the files
exist) the series' columns and length from the file's header and line count alone (no arrays, no TensorFlow).

Every problem is reported at the key's FILE:LINE:COL: an unknown column (with did-you-mean), a window longer than
the series, a horizon that leaves no sample, a model input that is not ``[window, len(inputs)]``, an output that is
neither ``[outputs, len(targets)]`` nor flat ``[outputs * len(targets)]``.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from rnncli.config.plan import ModelPlan, fmt_shape
from rnncli.config.section_args import SERIES_ARGS, SERIES_SPLIT_ARGS
from rnncli.config.sections import check_section
from rnncli.config.values import Diagnostics, suggest, type_name

# `data:` keys that mean something else than a series, or that a series does not take
NOT_WITH_SERIES = ("missing", "window", "y_train", "y_validation", "validation_split", "sample_weight", "sample_weight_train",
                   "sample_weight_validation")


def series_header(path: Path) -> tuple[list[str], bool, int]:
    """(column names, whether named (CSV), number of steps) of a series file, from its header (``.npy``) or its
    header line and line count (``.csv``). ``ValueError`` when unreadable."""
    suffix = path.suffix.lower()
    if suffix == ".csv":
        names: list[str] | None = None
        steps = 0
        with open(path, encoding="utf-8") as handle:
            for line in handle:
                if not line.strip():
                    continue
                if names is None:
                    names = [c.strip() for c in line.rstrip("\n").split(",")]
                else:
                    steps += 1
        if names is None:
            raise ValueError("the file is empty (a series `.csv` is a header line, then one row per step)")
        return names, True, steps
    if suffix == ".npy":
        from rnncli.config.data_shapes import _npy_shape
        from rnncli.errors import DataError

        try:
            shape = _npy_shape(path)
        except DataError as exc:
            raise ValueError(str(exc)) from None
        if len(shape) not in (1, 2):
            raise ValueError(f"a series `.npy` is [steps] or [steps, columns], got shape {fmt_shape(shape)}")
        width = 1 if len(shape) == 1 else shape[1]
        return [str(i) for i in range(width)], False, shape[0]
    raise ValueError(f"a series is a `.csv` with a header or a `.npy` [steps, columns], not a `{suffix}` file")


def _columns(value: Any, container: Any, key: str, diags: Diagnostics) -> list | None:
    if value is None:
        return None
    items = value if isinstance(value, list) else [value]
    if not items or not all(isinstance(v, (str, int)) and not isinstance(v, bool) for v in items):
        diags.add(container, key, f"data.series.{key} must be a column (a header name, or an index for `.npy`) "
                  f"or a list of them, got {type_name(value)}")
        return None
    return list(items)


def check_series(section: dict, data: dict, plan: ModelPlan | None, diags: Diagnostics) -> None:
    """Check ``section['series']`` (as written) and store the resolved mapping in ``data['series']``."""
    for key in NOT_WITH_SERIES:
        if key in section and section[key] not in (None, 0.0, "error"):
            diags.add(section, key, f"data.{key} does not apply to a series (data.series); "
                      + ("use data.series.split instead" if key == "validation_split" else
                         "use data.series.missing instead" if key == "missing" else "remove it"))
    written = section["series"]
    resolved = check_section(written, SERIES_ARGS, section, "series", "data.series", Path("."), diags)
    if resolved is None:
        data["series"] = None
        return
    split = resolved["split"] or {}
    split_resolved = check_section(split, SERIES_SPLIT_ARGS, written, "split", "data.series.split", Path("."),
                                   diags) if isinstance(split, dict) else None
    if not isinstance(split, dict):
        diags.add(written, "split", f"data.series.split must be a mapping {{validation: f, test: f}}, got "
                  f"{type_name(split)}")
    elif split_resolved is not None:
        if split_resolved["validation"] + split_resolved["test"] >= 1.0:
            diags.add(written, "split", "data.series.split: validation + test must leave a training part (< 1)")
        if split_resolved["validation"] and data.get("validation"):
            diags.add(written, "split", "data.series.split.validation and data.validation exclude each other; "
                      "remove one of them")
    resolved["split"] = split_resolved or {"validation": 0.0, "test": 0.0}
    resolved["inputs"] = _columns(resolved["inputs"], written, "inputs", diags)
    resolved["targets"] = _columns(resolved["targets"], written, "targets", diags)
    data["series"] = resolved
    if plan is not None:
        _check_model(written, resolved, plan, diags)
    if diags.check_files:
        for key in ("train", "validation"):
            if data.get(key):
                _check_file(section, written, key, Path(data[key]), resolved, plan, diags)


def _check_model(written: dict, series: dict, plan: ModelPlan, diags: Diagnostics) -> None:
    shape = tuple(plan.input_shape[1:])
    if len(shape) != 2 or plan.input_dtype != "float32":
        diags.add(written, "window", f"data.series feeds windows [window, columns] of float values, but the model "
                  f"input is {fmt_shape(plan.input_shape)}{' (integer indices)' if plan.input_dtype != 'float32' else ''}")
        return
    if shape[0] is not None and shape[0] != series["window"]:
        diags.add(written, "window", f"data.series.window is {series['window']} but the model input "
                  f"{fmt_shape(plan.input_shape)} has {shape[0]} timesteps")
    if series["inputs"] is not None and shape[1] is not None and shape[1] != len(series["inputs"]):
        diags.add(written, "inputs", f"data.series.inputs has {len(series['inputs'])} columns but the model input "
                  f"{fmt_shape(plan.input_shape)} has {shape[1]} features per step")
    if plan.stateful and series["stride"] not in (None, series["window"]):
        diags.add(written, "stride", f"a stateful model's windows follow each other (truncated BPTT: stride = "
                  f"window = {series['window']}); remove data.series.stride")
    targets = series["targets"]
    if targets is None:
        return
    out = tuple(plan.output_shape[1:])
    k, c = series["outputs"], len(targets)
    flat_ok = len(out) == 1 and out[0] == k * c
    seq_ok = len(out) == 2 and out == (k, c)
    if not (flat_ok or seq_ok):
        diags.add(written, "outputs" if "outputs" in written else "targets",
                  f"data.series: outputs {k} x targets {c} need a model output of [{k * c}] (flat: y "
                  f"[N, {k * c}]) or [{k}, {c}] (y [N, {k}, {c}]), but the model outputs "
                  f"{fmt_shape(plan.output_shape)}")


def _check_file(section: dict, written: dict, key: str, path: Path, series: dict, plan: ModelPlan | None,
                diags: Diagnostics) -> None:
    try:
        names, named, steps = series_header(path)
    except (OSError, UnicodeDecodeError, ValueError) as exc:
        diags.add(section, key, f"data.{key}: {path.name}: {exc}")
        return
    for what in ("inputs", "targets"):
        columns = series[what]
        if columns is None:
            continue
        holder = written.get(what)
        for i, column in enumerate(columns):
            at = (holder, i) if isinstance(holder, list) else (written, what)
            if named and str(column) not in names:
                diags.add(*at, f"data.series.{what}: no column `{column}` in {path.name} (its header: "
                          f"{', '.join(names)}){suggest(str(column), names)}")
            elif not named and (not isinstance(column, int) or not 0 <= column < len(names)):
                diags.add(*at, f"data.series.{what}: {column!r} is not a column index of {path.name} "
                          f"({len(names)} column{'s' if len(names) > 1 else ''}: 0..{len(names) - 1})")
    if series["inputs"] is None and plan is not None and len(plan.input_shape) == 3 \
            and plan.input_shape[2] not in (None, len(names)):
        diags.add(written, "targets", f"data.series.inputs defaults to every column of {path.name} ({len(names)}) "
                  f"but the model input has {plan.input_shape[2]} features per step; list the inputs")
    split = series["split"]
    part = steps if key == "validation" else steps - int(steps * split["test"]) - int(steps * split["validation"])
    streams = plan.batch_size if plan is not None and plan.stateful else 1
    per_stream = part // streams
    window, horizon, outputs = series["window"], series["horizon"], series["outputs"]
    where_text = f"{path.name} ({'its training part: ' if part != steps else ''}{part} steps" + \
        (f", {per_stream} per stream of the {streams} streams of a stateful batch)" if streams > 1 else ")")
    if window > per_stream:
        diags.add(written, "window", f"data.series.window {window} is longer than the series {where_text}")
    elif window + horizon - 1 + outputs > per_stream:
        diags.add(written, "horizon" if "horizon" in written else "outputs",
                  f"data.series: window {window} + horizon {horizon} + {outputs} target step(s) - 1 = "
                  f"{window + horizon - 1 + outputs} steps leave no sample in {where_text}")
