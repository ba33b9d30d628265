"""Do a data file's shapes fit the model? Decided from shapes alone, so ``validate`` can answer from file headers.

* ``input_layout``: x's shape against the model input; a CSV table ``(N, T*D)`` feeding a sequence model
  ``[T, D]`` is read as ``(N, T, D)`` (each row holds step 1's D features, then step 2's, ...), with a note.
* ``target_layout``: y's shape against the model output, with hints (``return_sequences``, one-hot vs sparse labels).
* ``peek_shapes``: x/y shapes of a data file from its headers (``.npy``, ``.npz``) or first line (``.csv``),
  without reading the arrays.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from rnncli.config.plan import ModelPlan, fmt_shape
from rnncli.errors import DataError

TABLE_SUFFIXES = (".csv", ".txt")
RECURRENT = ("SimpleRNN", "GRU", "LSTM")


def input_layout(shape: tuple, plan: ModelPlan, source: str, table: bool = False, inputs_only: bool = False
                 ) -> tuple[tuple, str | None]:
    """The shape x must take for the model (x's own, or a CSV table's reshaped to [N, T, D]) and a note when
    reshaped; ``DataError`` when x cannot fit. ``shape`` is x's shape [N, ...] (N may be None: unknown).
    ``inputs_only``: the table is ``predict``'s input (no target column), for the message."""
    expected = tuple(plan.input_shape[1:])
    if len(shape) == 0:
        raise DataError(f"{source}: x is a single number, expected an array of samples")
    note = None
    if table and len(shape) == 2 and len(expected) == 2 and plan.input_dtype == "float32":
        steps, features = expected
        width = shape[1]
        if features is not None and (steps is None or steps * features == width) and width % features == 0:
            new = (shape[0], width // features, features)
            rows = "?" if shape[0] is None else shape[0]
            note = (f"{source}: read each row of {width} values as {new[1]} timesteps of {features} "
                    f"feature{'s' if features > 1 else ''} (x {fmt_shape((rows, width))} -> "
                    f"{fmt_shape((rows,) + new[1:])}, the model input is {fmt_shape(plan.input_shape)})")
            shape = new
    if len(shape) != len(expected) + 1:
        hint = ""
        if table and len(expected) == 2:
            values = f"T*D = {_product(expected)} values (step 1's features, then step 2's, ...)"
            if None in expected:
                hint = ""
            elif inputs_only:
                hint = (f"; a CSV row for predict must hold the {values}, or those plus the target column (the "
                        f"training layout: the target is ignored)")
            else:
                hint = f"; a CSV row must hold {values} plus the target column (the layout of train and evaluate)"
        raise DataError(f"{source}: x has shape {_show(shape)} ({len(shape)}-D) but the model expects "
                        f"{fmt_shape((None,) + expected)} ({len(expected) + 1}-D){hint}")
    for axis, (want, got) in enumerate(zip(expected, shape[1:]), start=1):
        if want is not None and want != got:
            what = "features per step" if axis == len(shape) - 1 and len(shape) == 3 else f"entries on axis {axis}"
            raise DataError(f"{source}: x has {got} {what} but the first layer expects {want} "
                            f"(x shape {_show(shape)}, model input {fmt_shape(plan.input_shape)})")
    return shape, note


def target_layout(shape: tuple, n: int | None, plan: ModelPlan, loss: str | None, source: str) -> tuple:
    """The shape y takes for the loss ([N, ..., 1] class indices for sparse losses); ``DataError`` with a hint
    when y does not fit the model output."""
    if len(shape) == 0:
        raise DataError(f"{source}: y is a single number, expected one target per sample")
    if n is not None and shape[0] is not None and shape[0] != n:
        raise DataError(f"{source}: x has {n} samples but y has {shape[0]}")
    out = tuple(plan.output_shape[1:])
    if loss == "sparse_categorical_crossentropy":
        if len(shape) == len(out):
            shape = tuple(shape) + (1,)
        if tuple(shape[1:-1]) != out[:-1] or shape[-1] != 1:
            hint = ""
            if tuple(shape[1:]) == out and out[-1] > 1:
                hint = (f"; y looks one-hot ({out[-1]} values per target): use `loss: categorical_crossentropy` for "
                        f"one-hot targets, or store class indices (argmax) for sparse_categorical_crossentropy")
            raise DataError(f"{source}: sparse targets need shape {fmt_shape((None,) + out[:-1] + (1,))} (one class "
                            f"index per target), got {_show(shape)}{hint or _sequence_hint(shape, plan)}")
        return shape
    if len(shape) == 1 and out == (1,):
        shape = tuple(shape) + (1,)
    fits = len(shape) == len(out) + 1 and all(d is None or d == s for d, s in zip(out, shape[1:]))
    if not fits:
        hint = _sequence_hint(shape, plan)
        labels = len(shape) == len(out) or (len(shape) == len(out) + 1 and shape[-1] == 1)
        if not hint and loss == "categorical_crossentropy" and out[-1] not in (None, 1) and labels:
            hint = (f"; y looks like class indices: use `loss: sparse_categorical_crossentropy`, or one-hot encode "
                    f"y to {out[-1]} columns")
        raise DataError(f"{source}: y has shape {_show(shape)} but the model outputs "
                        f"{fmt_shape(plan.output_shape)}{hint}")
    return shape


def _sequence_hint(shape: tuple, plan: ModelPlan) -> str:
    """Explain a y with one axis more or less than the output: usually `return_sequences` on the last RNN."""
    out = plan.output_shape[1:]
    last = _last_recurrent(plan)
    if last is None:
        return ""
    if len(shape) == len(out) + 2:
        return (f"; y has a target per timestep but the model outputs one per sequence: set `return_sequences: true` "
                f"on `{last}` and wrap the layers after it in TimeDistributed")
    if len(shape) == len(out) and len(out) >= 2:
        return (f"; the model outputs a sequence (`return_sequences: true` on `{last}`) but y has one target per "
                f"sample: set `return_sequences: false` on `{last}`")
    return ""


def _last_recurrent(plan: ModelPlan) -> str | None:
    for layer in reversed(plan.layers):
        inner = layer.config.get("layer") if isinstance(layer.config.get("layer"), dict) else {}
        if layer.type in RECURRENT or inner.get("type") in RECURRENT:
            return layer.name
    return None


def _product(shape: tuple) -> int:
    result = 1
    for d in shape:
        result *= d
    return result


def _show(shape: tuple) -> str:
    return "(" + ", ".join("N" if d is None else str(d) for d in shape) + ("," if len(shape) == 1 else "") + ")"


@dataclass
class Shapes:
    """What a data file holds, from its headers: x and y shapes ([N, ...]; N None when unknown)."""

    x: tuple
    y: tuple | None
    table: bool  # CSV rows: x may be reshaped to [N, T, D]


def peek_shapes(path: str | Path, y_path: str | Path | None = None, need_y: bool = True) -> Shapes:
    """Shapes of x and y in a data file, read from headers only (``DataError`` when unreadable)."""
    path = Path(path)
    if not path.exists():
        raise DataError(f"{path}: file not found")
    suffix = path.suffix.lower()
    if suffix == ".npy":
        x = _npy_shape(path)
        if y_path is None and need_y:
            raise DataError(f"{path}: an x .npy needs its targets: set `y_train`/`y_validation` (or --y) to a y .npy")
        return Shapes(x, _npy_shape(Path(y_path)) if y_path is not None else None, False)
    if suffix == ".npz":
        return _npz_shapes(path, need_y)
    if suffix in TABLE_SUFFIXES:
        width = _csv_width(path)
        if need_y:
            if width < 2:
                raise DataError(f"{path}: needs at least 2 columns (features, then the target)")
            return Shapes((None, width - 1), (None, 1), True)
        return Shapes((None, width), None, True)
    raise DataError(f"{path}: unsupported data format `{suffix}`; use .npz (x, y), .npy or .csv")


def _npy_shape(path: Path) -> tuple:
    try:
        with open(path, "rb") as handle:
            return _header_shape(handle, str(path))
    except OSError as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None


def _header_shape(handle, name: str) -> tuple:
    try:
        version = np.lib.format.read_magic(handle)
        if version == (1, 0):
            shape, _, dtype = np.lib.format.read_array_header_1_0(handle)
        else:
            shape, _, dtype = np.lib.format.read_array_header_2_0(handle)
    except (ValueError, EOFError, OSError) as exc:
        raise DataError(f"{name}: not a valid .npy array ({exc})") from None
    if dtype.hasobject:
        raise DataError(f"{name}: holds Python objects (pickled data), which rnncli never loads")
    return tuple(shape)


def _npz_shapes(path: Path, need_y: bool) -> Shapes:
    try:
        with zipfile.ZipFile(path) as archive:
            names = {n[:-4] for n in archive.namelist() if n.endswith(".npy")}
            if "x" not in names:
                raise DataError(f"{path}: no array named `x` (found: {', '.join(sorted(names)) or 'none'}); "
                                f"save with np.savez(path, x=..., y=...)")
            if need_y and "y" not in names:
                raise DataError(f"{path}: no array named `y` (found: {', '.join(sorted(names))})")
            shapes = {}
            for name in ("x", "y"):
                if name in names:
                    with archive.open(f"{name}.npy") as handle:
                        shapes[name] = _header_shape(handle, f"{path} (array {name})")
    except (OSError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc}); is the file truncated?") from None
    return Shapes(shapes["x"], shapes.get("y"), False)


def _csv_width(path: Path) -> int:
    """Columns of the first data row (a header line of names is skipped, as ``load_arrays`` does)."""
    try:
        with open(path, encoding="utf-8") as handle:
            for number, line in enumerate(handle, start=1):
                if not line.strip():
                    continue
                cells = line.split(",")
                try:
                    [float(c) for c in cells]
                except ValueError:
                    if number == 1:
                        continue
                    raise DataError(f"{path}:{number}: not a number in row {cells!r}") from None
                return len(cells)
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path}: cannot read ({exc})") from None
    raise DataError(f"{path}: no data rows")


def text_alphabet(path: str | Path, lowercase: bool, vocab: str | None) -> tuple[int, str]:
    """The one-hot size of a ``.txt`` corpus cut into windows (``len(vocab)``, else its distinct characters, as
    ``rnncli.data.dataset.load_text_windows`` counts them) and a label saying where it came from; ``DataError``
    when the corpus is unreadable or holds characters that ``vocab`` lacks."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DataError(f"{path.name}: cannot read as UTF-8 text ({exc})") from None
    text = text.lower() if lowercase else text
    if vocab is None:
        return len(set(text)), f"{path.name} (an alphabet of {len(set(text))} distinct characters)"
    unknown = sorted(set(text) - set(vocab))
    if unknown:
        raise DataError(f"{path.name}: characters {''.join(unknown)[:20]!r} are not in data.vocab")
    return len(vocab), f"{path.name} (data.vocab: an alphabet of {len(vocab)} characters)"


def check_text_windows(path: str | Path, window: int, lowercase: bool, vocab: str | None, plan: ModelPlan,
                       loss: str | None) -> None:
    """A character model's input [N, window, V] and target [N, V] (V: the alphabet) against the model, as
    ``train`` will build them; ``DataError`` with the alphabet's size when they do not fit."""
    size, label = text_alphabet(path, lowercase, vocab)
    hint = (f"; a character model's input is one-hot over the alphabet: input_shape [{window}, {size}] (and an "
            f"output of {size} units), or set data.vocab")
    try:
        input_layout((None, window, size), plan, label)
        if loss is not None:
            target_layout((None, size), None, plan, loss, label)
    except DataError as exc:
        raise DataError(f"{exc}{hint}") from None
