"""Checks of the ``data:`` section that need more than one key: which keys go with which file format, and (when
the files exist) whether their shapes fit the model, read from file headers only (no TensorFlow, no arrays)."""

from __future__ import annotations

import dataclasses

from pathlib import Path
from typing import Any

from rnncli.config.section_args import DATA_ARGS
from rnncli.config.plan import ModelPlan
from rnncli.config.values import Diagnostics

TEXT_ONLY = ("step", "lowercase", "vocab")  # meaningful only with `window` (a .txt corpus)


def check_data_section(section: dict, data: dict, plan: ModelPlan | None, training: dict | None,
                       diags: Diagnostics) -> None:
    """``section`` is the data mapping as written (for positions), ``data`` the resolved one (absolute paths)."""
    before = len(diags.items)
    if section.get("series") is not None:  # a long series cut into windows (rnncli.config.series_section)
        from rnncli.config.series_section import check_series

        check_series(section, data, plan, diags)
        return
    if section.get("buckets") is not None and section.get("pad") is None:
        diags.add(section, "buckets", "data.buckets needs data.pad (how the sequences of each batch are padded)")
    if section.get("pad") is not None:  # sequences of different lengths (rnncli.config.ragged_section)
        from rnncli.config.ragged_section import check_pad

        check_pad(section, data, plan, diags)
        return
    train = Path(data["train"])
    if data.get("window"):
        if train.suffix.lower() != ".txt":
            diags.add(section, "window", f"data.window cuts a `.txt` corpus into windows, but data.train is a "
                      f"`{train.suffix}` file; remove `window` (arrays are used as they are)")
        if section.get("y_train"):
            diags.add(section, "y_train", "data.y_train does not apply to a `.txt` corpus with `window` (the "
                      "targets are the characters after each window); remove it")
    else:
        defaults = {arg.name: arg.default for arg in DATA_ARGS}
        for key in TEXT_ONLY:  # at its default the key changes nothing (a resolved config lists every key)
            if key in section and section[key] != defaults[key]:
                diags.add(section, key, f"data.{key} applies only to a `.txt` corpus with `window`; remove it")
        _check_targets_key(section, data, "train", "y_train", diags)
    _check_targets_key(section, data, "validation", "y_validation", diags)
    if data.get("validation") and data.get("validation_split"):
        diags.add(section, "validation_split", "data.validation_split and data.validation exclude each other: with "
                  "`validation` set, the split would be ignored; remove one of them")
    if diags.check_files and plan is not None and len(diags.items) == before and data.get("window"):
        _check_text(section, data, plan, (training or {}).get("loss"), diags)
    elif diags.check_files and plan is not None and len(diags.items) == before:
        loss = (training or {}).get("loss")
        for x_key, y_key in (("train", "y_train"), ("validation", "y_validation")):
            if data.get(x_key):
                _check_shapes(section, data, x_key, y_key, plan, loss, training is not None, diags)


def _check_text(section: dict, data: dict, plan: ModelPlan, loss: Any, diags: Diagnostics) -> None:
    """A ``.txt`` corpus: its alphabet (or data.vocab) against the model's input and output sizes."""
    from rnncli.config.data_shapes import check_text_windows
    from rnncli.errors import DataError

    if not Path(data["train"]).exists():
        return  # reported where file existence is checked
    try:
        check_text_windows(data["train"], data["window"], data["lowercase"], data["vocab"], plan, loss)
    except DataError as exc:
        diags.add(section, "vocab" if data.get("vocab") else "train", f"data.train: {exc}")


def _check_targets_key(section: dict, data: dict, x_key: str, y_key: str, diags: Diagnostics) -> None:
    """An x ``.npy`` needs a y ``.npy``; every other format holds y itself."""
    if not data.get(x_key):
        if data.get(y_key):
            diags.add(section, y_key, f"data.{y_key} is set but data.{x_key} is not")
        return
    suffix = Path(data[x_key]).suffix.lower()
    if suffix == ".npy" and not data.get(y_key):
        diags.add(section, x_key, f"data.{x_key} is an x `.npy`: set `{y_key}` to the `.npy` holding its targets")
    elif suffix != ".npy" and data.get(y_key):
        holder = "its `y` array" if suffix == ".npz" else "its last column" if suffix in (".csv", ".txt") else "y"
        diags.add(section, y_key, f"data.{y_key} is only read when data.{x_key} is an x `.npy`; data.{x_key} is a "
                  f"`{suffix}` file whose targets are {holder}: remove `{y_key}`")


def _check_shapes(section: dict, data: dict, x_key: str, y_key: str, plan: ModelPlan, loss: Any, need_y: bool,
                  diags: Diagnostics) -> None:
    from rnncli.config.data_shapes import input_layout, peek_shapes, target_layout
    from rnncli.errors import DataError

    try:
        shapes = peek_shapes(data[x_key], data.get(y_key), need_y)
        if shapes.table and data.get("sample_weight"):  # the weight column is taken out of x before training
            shapes = dataclasses.replace(shapes, x=(*shapes.x[:-1], shapes.x[-1] - 1))
        input_layout(shapes.x, plan, Path(data[x_key]).name, shapes.table)
    except DataError as exc:
        diags.add(section, x_key, f"data.{x_key}: {exc}")
        return
    if shapes.y is not None and loss is not None:
        key = y_key if data.get(y_key) else x_key
        try:
            target_layout(shapes.y, shapes.x[0], plan, loss, Path(data[key]).name)
        except DataError as exc:
            diags.add(section, key, f"data.{key}: {exc}")
