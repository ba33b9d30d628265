"""Sample and class weights for the loss, prepared in numpy before training (Keras 1 ``standardize_weights``).

Weights come from the data files (an array of a ``.npz``, a header column of a ``.csv``, or a ``.npy`` beside an
``x`` ``.npy``) and from ``training.class_weight``. ``standardize_weights`` turns them into one weight per sample
(``[N]``) or per timestep (``[N, T]`` with ``sample_weight_mode: temporal``), exactly as Keras 1.2.2 ``fit`` did:
given sample weights win over class weights; class weights look up each sample's class (argmax of a one-hot target,
or the value of a one-column target). The loss then uses them as Keras 1 ``weighted_objective`` did
(``rnncli.training.losses``).

>>> import numpy as np
>>> standardize_weights(np.eye(3)[[0, 1, 1, 2]], class_weight={0: 1.0, 1: 0.5, 2: 2.0}).tolist()
[1.0, 0.5, 0.5, 2.0]
>>> balanced_class_weight(np.array([[0], [1], [1], [1]]))
{0: 2.0, 1: 0.6666666666666666}
"""

from __future__ import annotations

import dataclasses
import zipfile
from pathlib import Path
from typing import Callable

import numpy as np

from rnncli.data.dataset import Dataset
from rnncli.errors import DataError


def target_classes(y: np.ndarray) -> np.ndarray:
    """The class of each sample of 2-D targets ``[N, C]``: argmax for several columns, else the value (Keras 1)."""
    if y.ndim != 2:
        raise DataError(f"class weights need 2-D targets [N, classes] or [N, 1], got shape {y.shape}")
    if y.shape[1] > 1:
        return y.argmax(axis=1)
    labels = y[:, 0]
    if np.any(labels != np.round(labels)):
        raise DataError("class weights need integer class labels in a one-column target (e.g. 0/1 for a sigmoid "
                        "output); found non-integer targets")
    return labels.astype(np.int64)


def balanced_class_weight(y: np.ndarray) -> dict[int, float]:
    """``class_weight: auto``: n_samples / (n_classes * count(class)) over the classes present in ``y`` (the
    formula of scikit-learn's ``class_weight='balanced'``; Keras 1 had no automatic mode)."""
    classes, counts = np.unique(target_classes(y), return_counts=True)
    total = counts.sum()
    return {int(c): float(total / (len(classes) * n)) for c, n in zip(classes, counts)}


def standardize_weights(y: np.ndarray, sample_weight: np.ndarray | None = None,
                        class_weight: dict[int, float] | str | None = None, temporal: bool = False) -> np.ndarray:
    """Keras 1.2.2 ``standardize_weights``: float32 ``[N]`` (or ``[N, T]`` when ``temporal``) loss weights.

    ``y``: targets ``[N, ...]``; ``sample_weight``: given weights ``[N]`` / ``[N, T]`` or None; ``class_weight``:
    ``{class: weight}``, ``"auto"`` or None. Raises ``DataError`` for shapes Keras 1 refused and for classes
    without a weight.
    """
    n = len(y)
    if temporal and y.ndim < 3:
        raise DataError(f"sample_weight_mode temporal needs targets with a time axis [N, T, ...], got {y.shape}")
    if sample_weight is not None:
        sample_weight = np.asarray(sample_weight)
        want = (n, y.shape[1]) if temporal else (n,)
        if sample_weight.ndim == 2 and sample_weight.shape[1] == 1 and not temporal:
            sample_weight = sample_weight[:, 0]
        if sample_weight.shape != want:
            hint = ("; per-timestep weights need `training.sample_weight_mode: temporal`"
                    if sample_weight.ndim == 2 and not temporal else "")
            raise DataError(f"sample weights have shape {sample_weight.shape} but {n} samples need "
                            f"{'[N, T] = ' if temporal else '[N] = '}{list(want)}{hint}")
        if sample_weight.dtype.kind not in "biuf" or not np.all(np.isfinite(sample_weight)) \
                or np.any(sample_weight < 0):
            raise DataError("sample weights must be finite numbers >= 0")
        return sample_weight.astype(np.float32)
    if class_weight is not None and not temporal:
        if class_weight == "auto":
            class_weight = balanced_class_weight(y)
        classes = target_classes(y)
        missing = sorted(set(np.unique(classes).tolist()) - set(class_weight))
        if missing:
            raise DataError(f"training.class_weight has no weight for class(es) {missing[:10]} found in the "
                            f"targets; give every class a weight")
        lookup = np.zeros(int(max(max(class_weight), classes.max())) + 1, np.float32)
        for cls, weight in class_weight.items():
            lookup[cls] = weight
        return lookup[classes]
    return np.ones((n, y.shape[1]) if temporal else (n,), np.float32)


def read_sample_weights(raw: Dataset, path: str | Path, name: str | None, npy_path: str | Path | None
                        ) -> tuple[Dataset, np.ndarray | None]:
    """The weights stored with a data file, and the dataset without them (a ``.csv`` weight column is removed from
    the inputs). ``name``: array (``.npz``) or column (``.csv``) name; ``npy_path``: a weights ``.npy``."""
    path = Path(path)
    suffix = path.suffix.lower()
    if npy_path is not None:
        try:
            return raw, np.load(npy_path, allow_pickle=False)
        except (OSError, ValueError, EOFError) as exc:
            raise DataError(f"{npy_path}: cannot read the sample weights ({exc})") from None
    if name is None:
        return raw, None
    if suffix == ".npz":
        try:
            with np.load(path, allow_pickle=False) as archive:
                return raw, (archive[name] if name in archive.files else None)
        except (OSError, ValueError, zipfile.BadZipFile) as exc:
            raise DataError(f"{path}: cannot read the sample weights ({exc})") from None
    if suffix in (".csv", ".txt"):
        header = path.read_text(encoding="utf-8").split("\n", 1)[0].strip().split(",")
        if name not in header:
            return raw, None
        column = header.index(name)
        if column >= raw.x.shape[1]:
            raise DataError(f"{path}: the sample weight column `{name}` is the last column, which holds the target")
        weights = np.asarray(raw.x[:, column])
        return dataclasses.replace(raw, x=np.delete(raw.x, column, axis=1)), weights
    return raw, None


def weighted_dataset(raw: Dataset, check: Callable[[Dataset], Dataset], data_cfg: dict, training: dict | None,
                     split: str) -> Dataset:
    """``check(raw)`` (the usual data checks) with ``sample_weight`` attached when the config weighs the loss.

    ``split``: ``train`` (class weights apply; a configured weights array must be present) or ``validation`` (its
    own weights when the file has them, else every sample weighs 1, as Keras 1's two-element validation_data).
    Without any weighting key the dataset carries no weights and training takes its unweighted path.
    """
    training = training or {}
    name = data_cfg.get("sample_weight")
    npy_path = data_cfg.get(f"sample_weight_{split}")
    class_weight = training.get("class_weight") if split == "train" else None
    temporal = training.get("sample_weight_mode") == "temporal"
    raw, given = read_sample_weights(raw, raw.source, name, npy_path)
    if given is None and split == "train" and name is not None:
        raise DataError(f"{raw.source}: no sample weights named `{name}` (data.sample_weight): add an array "
                        f"`{name}` to the .npz, or a `{name}` header column to the .csv")
    data = check(raw)
    if given is None and class_weight is None and not temporal and name is None and npy_path is None:
        return data
    if data.y is None:
        return data
    if given is not None and len(given) != len(data):
        raise DataError(f"{raw.source}: {len(data)} samples but {len(given)} sample weights")
    try:
        weights = standardize_weights(data.y, given, class_weight, temporal)
    except DataError as exc:
        raise DataError(f"{raw.source}: {exc}") from None
    return dataclasses.replace(data, sample_weight=weights)

