"""``data:`` of a graph with several inputs or outputs, checked by ``validate`` from the files' headers alone.

Such a graph reads an ``.npz`` per set with one array per input and per output, by name (``rnncli.data.graph_sets``
loads them). Here: the chain-only keys are refused at their position, and when the files exist each named array's
presence, sample shape and sample count are checked against the graph, without reading any array.
"""

from __future__ import annotations

import zipfile
from pathlib import Path

from rnncli.config.data_shapes import _header_shape
from rnncli.config.graph_plan import GraphPlan
from rnncli.config.plan import fmt_shape
from rnncli.config.section_args import DATA_ARGS
from rnncli.config.values import Diagnostics
from rnncli.errors import DataError

# keys of a chain's data formats (x/y files, text, series, ragged sequences, sample weights, CSV cells)
CHAIN_ONLY = ("y_train", "y_validation", "window", "step", "lowercase", "vocab", "remainder", "sample_weight",
              "sample_weight_train", "sample_weight_validation", "missing", "series", "pad", "buckets")


def check_graph_data(section: dict, data: dict, plan: GraphPlan, training: dict | None, diags: Diagnostics) -> None:
    """``section``: the data mapping as written (positions); ``data``: the resolved one (absolute paths)."""
    before = len(diags.items)
    defaults = {arg.name: arg.default for arg in DATA_ARGS}
    for key in CHAIN_ONLY:  # at its default a key changes nothing (a resolved config lists every key)
        if key in section and section[key] != defaults[key]:
            diags.add(section, key, f"data.{key} does not apply to a model with several inputs or outputs, which "
                      f"reads one .npz per set with an array per input and output by name; remove it")
    if data.get("validation") and data.get("validation_split"):
        diags.add(section, "validation_split", "data.validation_split and data.validation exclude each other: with "
                  "`validation` set, the split would be ignored; remove one of them")
    if not diags.check_files or len(diags.items) > before:
        return
    losses = (training or {}).get("loss") or {}
    for key in ("train", "validation"):
        if data.get(key):
            try:
                _check_file(Path(data[key]), plan, losses if isinstance(losses, dict) else {})
            except DataError as exc:
                diags.add(section, key, f"data.{key}: {exc}")


def _check_file(path: Path, plan: GraphPlan, losses: dict) -> None:
    names = plan.input_names + list(plan.outputs)
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path.name}: a model with several inputs or outputs reads an .npz with one array per input "
                        f"and output, by name (np.savez(path, {', '.join(f'{n}=...' for n in names)}))")
    if not path.exists():
        return  # reported by the path check
    try:
        with zipfile.ZipFile(path) as archive:
            found = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
            missing = [n for n in names if n not in found]
            if missing:
                raise DataError(f"{path.name}: no array named {', '.join(f'`{n}`' for n in missing)} (found: "
                                f"{', '.join(sorted(found)) or 'none'}); the model's inputs and outputs are "
                                f"{', '.join(names)}")
            shapes = {}
            for name in names:
                with archive.open(f"{name}.npy") as handle:
                    shapes[name] = _header_shape(handle, f"{path.name} (array {name})")
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path.name}: cannot read as .npz ({exc}); is the file truncated?") from None
    wants = {i.name: ("input", tuple(i.shape[1:])) for i in plan.inputs}
    for output in plan.outputs:
        want = tuple(plan.output_shapes[output][1:])
        if losses.get(output) == "sparse_categorical_crossentropy":  # class ids: [..., 1] or without the last axis
            if _fits(shapes[output][1:], want[:-1]):
                continue
            want = want[:-1] + (1,)
        wants[output] = ("target", want)
    count = None
    for name, (what, want) in wants.items():
        shape = shapes[name]
        if not shape or not _fits(shape[1:], want):
            raise DataError(f"{path.name}: {what} `{name}` has samples of shape {fmt_shape(shape[1:])}, the model "
                            f"{'expects' if what == 'input' else 'outputs'} {fmt_shape(want)}")
        if count is not None and shape[0] != count:
            raise DataError(f"{path.name}: {what} `{name}` has {shape[0]} samples, `{names[0]}` has {count}")
        count = shape[0] if count is None else count


def _fits(shape: tuple, want: tuple) -> bool:
    return len(shape) == len(want) and all(w is None or s == w for s, w in zip(shape, want))
