"""What ``rnncli predict`` writes: raw outputs or class decisions, as ``.npy`` or as a CSV with a header.

>>> import numpy as np
>>> predicted_classes(np.array([[0.1, 0.7, 0.2], [0.5, 0.2, 0.3]])).tolist()
[1, 0]
>>> predicted_classes(np.array([[0.2], [0.5], [0.9]])).tolist()
[0, 0, 1]
>>> csv_header((4, 2, 3), "y")
['y_0_0', 'y_0_1', 'y_0_2', 'y_1_0', 'y_1_1', 'y_1_2']
"""

from __future__ import annotations

import io
import itertools
from pathlib import Path

import numpy as np

from rnncli.errors import UserInputError
from rnncli.runs.files import atomic_write_bytes, atomic_write_text

OUTPUT_SUFFIXES = (".npy", ".csv")


def predicted_classes(outputs: np.ndarray) -> np.ndarray:
    """Keras 1 ``predict_classes``: argmax over the last axis when it has several units, else ``output > 0.5``.

    ``outputs``: ``[N, ..., C]`` -> int32 ``[N, ...]`` (one class per sample, or per timestep of a sequence output).
    """
    if outputs.ndim < 2:
        raise ValueError(f"expected outputs of shape [N, ..., C], got {outputs.shape}")
    if outputs.shape[-1] > 1:
        return outputs.argmax(axis=-1).astype(np.int32)
    return (outputs[..., 0] > 0.5).astype(np.int32)


def csv_header(shape: tuple[int, ...], stem: str) -> list[str]:
    """Column names for ``[N, ...]`` rows flattened in C order: ``stem`` alone for one value per row, else
    ``stem_i`` (``[N, D]``) or ``stem_t_i`` (``[N, T, D]``)."""
    inner = shape[1:]
    if not inner or int(np.prod(inner)) == 1 and len(inner) <= 1:
        return [stem]
    return [stem + "".join(f"_{i}" for i in index) for index in itertools.product(*(range(n) for n in inner))]


def check_output_path(path: Path) -> None:
    if path.suffix.lower() not in OUTPUT_SUFFIXES:
        raise UserInputError(f"--output must end in .npy or .csv, got {path}")
    ensure_folder(path.parent, "--output")


def ensure_folder(folder: Path, option: str) -> None:
    """Create a missing output folder (as `train -o` and `plot -o` do); refuse a file in its place."""
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except (FileExistsError, NotADirectoryError):
        raise UserInputError(f"{option}: {folder} is not a folder") from None
    except OSError as exc:
        raise UserInputError(f"{option}: cannot create folder {folder} ({exc.strerror})") from None


def write_output(array: np.ndarray, path: Path, stem: str = "y") -> None:
    """``.npy``, or ``.csv`` with a header line (column names from ``csv_header``), replaced atomically.

    Integer arrays (classes) are written as integers, floats with 8 significant digits.
    """
    check_output_path(path)
    if path.suffix.lower() == ".npy":
        buffer = io.BytesIO()
        np.save(buffer, array)
        atomic_write_bytes(path, buffer.getvalue())
        return
    flat = array.reshape(len(array), -1)
    cell = "{:d}" if np.issubdtype(array.dtype, np.integer) else "{:.8g}"
    lines = [",".join(csv_header(array.shape, stem))]
    lines += [",".join(cell.format(v) for v in row) for row in flat.tolist()]
    atomic_write_text(path, "\n".join(lines) + "\n")
