"""Data of a graph with several inputs or outputs: one array per input and per output, by name.

``data.train`` (and ``data.validation``, ``predict --input``, ``evaluate --data``) is an ``.npz`` holding an array
named like each model input (``history``, ``static``) and, for training and evaluation, one named like each
output (``out``); an output named ``layer:k`` is stored under that name. Arrays are checked against the graph's
shapes and dtypes with the file and the array named in every message.
"""

from __future__ import annotations

import zipfile
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from rnncli.config.config import Config
from rnncli.config.graph_plan import GraphPlan
from rnncli.config.plan import fmt_shape
from rnncli.data.dataset import _check_finite, fit_to_batches
from rnncli.errors import DataError


@dataclass
class GraphDataset:
    """Inputs ``x`` and targets ``y`` by name, each [N, ...]; ``sample_weight`` is always None (unweighted), and a
    shuffled epoch is a plain permutation (``epoch_order`` None: no length buckets)."""

    x: dict[str, np.ndarray]
    y: dict[str, np.ndarray] | None
    source: str
    notes: list[str] = field(default_factory=list)
    sample_weight: None = None
    vocab: None = None
    normalization: None = None  # (as ``Dataset``: graphs take no series statistics)
    epoch_order: None = None  # (as ``Dataset``: a shuffled epoch is a plain permutation)

    def __len__(self) -> int:
        return int(next(iter(self.x.values())).shape[0])

    def slice(self, start: int, stop: int, source: str | None = None) -> "GraphDataset":
        return GraphDataset({k: v[start:stop] for k, v in self.x.items()},
                            None if self.y is None else {k: v[start:stop] for k, v in self.y.items()},
                            source or self.source, self.notes)


def _read_npz(path: Path, names: list[str]) -> dict[str, np.ndarray]:
    if Path(path).suffix.lower() != ".npz":
        raise DataError(f"{path}: a model with several inputs or outputs reads an .npz with one array per input and "
                        f"output, by name (np.savez(path, {', '.join(f'{n}=...' for n in names)}))")
    try:
        with np.load(path, allow_pickle=False) as archive:
            found = set(archive.files)
            missing = [n for n in names if n not in found]
            if missing:
                raise DataError(f"{path}: no array named {', '.join(f'`{n}`' for n in missing)} (found: "
                                f"{', '.join(sorted(found)) or 'none'}); the model's inputs and outputs are "
                                f"{', '.join(names)}")
            return {n: archive[n] for n in names}
    except DataError:
        raise
    except ValueError as exc:
        if "pickle" in str(exc).lower() or "object" in str(exc).lower():
            raise DataError(f"{path}: holds Python objects (pickled data), which rnncli never loads") from None
        raise DataError(f"{path}: not a valid .npz file ({exc})") from None
    except (OSError, EOFError, zipfile.BadZipFile) as exc:
        raise DataError(f"{path}: cannot read as .npz ({exc}); is the file truncated?") from None


def _fits(shape: tuple, want: tuple) -> bool:
    return len(shape) == len(want) and all(w is None or s == w for s, w in zip(shape, want))


def _vocabulary(plan: GraphPlan, name: str) -> int | None:
    for node in plan.nodes:
        if node.layer.type == "Embedding" and node.inbound[0] == name:
            return node.layer.config["input_dim"]
    return None


def _check_inputs(x: dict, plan: GraphPlan, source: str) -> dict:
    result = {}
    count = None
    for graph_input in plan.inputs:
        array = x[graph_input.name]
        where = f"{source}: input `{graph_input.name}`"
        if array.dtype.kind not in "biuf":
            raise DataError(f"{where} has dtype {array.dtype}, expected numbers")
        if not _fits(array.shape[1:], tuple(graph_input.shape[1:])):
            raise DataError(f"{where} has samples of shape {fmt_shape(array.shape[1:])}, the model expects "
                            f"{fmt_shape(tuple(graph_input.shape[1:]))}")
        if count is not None and len(array) != count:
            raise DataError(f"{where} has {len(array)} samples, the first input has {count}")
        count = len(array)
        if graph_input.dtype == "int32":
            if array.dtype.kind == "f" and not np.all(np.equal(np.mod(array, 1), 0)):
                raise DataError(f"{where} must hold integer indices for an Embedding")
            array = np.asarray(array, dtype=np.int64)
            vocab = _vocabulary(plan, graph_input.name)
            if vocab is not None and array.size and (array.min() < 0 or array.max() >= vocab):
                raise DataError(f"{where} holds indices {int(array.min())}..{int(array.max())}, but the Embedding "
                                f"has input_dim={vocab} (valid 0..{vocab - 1})")
            array = array.astype(np.int32)
        else:
            array = np.asarray(array, dtype=np.float32)
            _check_finite(array, source, f"input `{graph_input.name}`")
        result[graph_input.name] = array
    if not count:
        raise DataError(f"{source}: the inputs hold no samples")
    return result


def _check_targets(y: dict, plan: GraphPlan, losses: dict, count: int, source: str) -> dict:
    result = {}
    for name in plan.outputs:
        array = np.asarray(y[name])
        want = tuple(plan.output_shapes[name][1:])
        where = f"{source}: target `{name}`"
        if array.dtype.kind not in "biuf":
            raise DataError(f"{where} has dtype {array.dtype}, expected numbers")
        if len(array) != count:
            raise DataError(f"{where} has {len(array)} samples, the inputs have {count}")
        if losses.get(name) == "sparse_categorical_crossentropy" and _fits(array.shape[1:], want[:-1]):
            array = array.reshape(array.shape + (1,))
            want = want[:-1] + (1,)
        elif losses.get(name) == "sparse_categorical_crossentropy":
            want = want[:-1] + (1,)
        if not _fits(array.shape[1:], want):
            raise DataError(f"{where} has samples of shape {fmt_shape(array.shape[1:])}, the output is "
                            f"{fmt_shape(want)}")
        array = array.astype(np.float32)
        _check_finite(array, source, f"target `{name}`")
        result[name] = array
    return result


def load_graph_dataset(path: str | Path, config: Config, need_y: bool = True) -> GraphDataset:
    """The named arrays of ``path`` checked against the graph (targets when ``need_y``)."""
    plan = config.model
    assert isinstance(plan, GraphPlan)
    names = plan.input_names + (list(plan.outputs) if need_y else [])
    arrays = _read_npz(Path(path), names)
    x = _check_inputs({n: arrays[n] for n in plan.input_names}, plan, str(path))
    count = len(next(iter(x.values())))
    y = None
    if need_y:
        losses = (config.training or {}).get("loss") or {}
        losses = losses if isinstance(losses, dict) else {name: losses for name in plan.outputs}
        y = _check_targets({n: arrays[n] for n in plan.outputs}, plan, losses, count, str(path))
    return GraphDataset(x, y, str(path))


def _refuse_chain_keys(data_cfg: dict) -> None:
    for key in ("y_train", "y_validation", "sample_weight", "window"):
        if data_cfg.get(key):
            raise DataError(f"data.{key} is not used by a model with several inputs or outputs: keep every input "
                            f"and target as a named array in the .npz")


def graph_training_data(config: Config) -> tuple[GraphDataset, GraphDataset | None]:
    """(train, validation or None) of a graph config's ``data:``: .npz files with named arrays."""
    data_cfg = config.data
    assert data_cfg is not None
    _refuse_chain_keys(data_cfg)
    train = load_graph_dataset(data_cfg["train"], config)
    validation = None
    if data_cfg["validation"]:
        validation = load_graph_dataset(data_cfg["validation"], config)
    elif data_cfg["validation_split"]:
        split_at = int(len(train) * (1.0 - data_cfg["validation_split"]))
        if split_at <= 0 or split_at >= len(train):
            raise DataError(f"{train.source}: validation_split={data_cfg['validation_split']} leaves no training "
                            f"or no validation samples out of {len(train)}")
        if config.model.stateful:  # both parts whole batches, as a chain's split
            batch = config.model.batch_size
            split_at = max(batch, split_at // batch * batch)
        train, validation = (train.slice(0, split_at),
                             train.slice(split_at, len(train), f"{train.source} (validation_split)"))
    if config.model.stateful:  # states carry over from batch to batch: whole batches only
        remainder = data_cfg.get("remainder", "error")
        train = fit_to_batches(train, config.model.batch_size, remainder, "training")
        if validation is not None:
            validation = fit_to_batches(validation, config.model.batch_size, remainder, "validation")
    return train, validation


def write_graph_outputs(outputs: dict[str, np.ndarray], path: Path) -> None:
    """``predict``'s outputs of a graph: an .npz with one array per output name."""
    if path.suffix.lower() != ".npz":
        raise DataError(f"{path}: a model with several outputs writes an .npz (one array per output: "
                        f"{', '.join(outputs)})")
    path.parent.mkdir(parents=True, exist_ok=True)
    temporary = path.with_name(path.name + ".tmp.npz")
    np.savez(temporary, **outputs)
    temporary.replace(path)
