"""``rnncli import``: turn a Keras 1 model into a normal rnncli run directory.

Sources:

* a full-model file from Keras 1 ``model.save()``: ``model_config`` (architecture), ``model_weights``,
  ``training_config`` (loss, metrics, optimizer -> the run's ``training:`` section) and ``optimizer_weights``
  (-> the optimizer's slots when the mapping is exact, else a notice that they were dropped);
* an architecture document (``to_json()``/``to_yaml()``) with ``--weights`` from ``save_weights()``;
* an architecture document alone (weights initialised as the config says, with a notice).

The run directory gets ``config.yaml`` (the Keras document verbatim under ``model:``, plus ``training:`` and any
``--set`` values), ``config.resolved.yaml``, a checkpoint at epoch 0 holding the imported weights, and ``run.json``
saying where it came from. Every check (architecture, weights by position, shapes) runs before the run directory is
touched. All use of the run-directory and checkpoint machinery is in ``_write_run``.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from rnncli.config.config import Config, plain
from rnncli.config.overrides import apply_override
from rnncli.config.validate import load_config
from rnncli.errors import ConfigError, Diagnostic, UserInputError
from rnncli.documents.file_kinds import empty_or_foreign
from rnncli.documents.keras_architecture import Refusal, training_from_keras
from rnncli.documents.keras_archive import is_keras_archive, read_keras_archive
from rnncli.documents.keras_hdf5 import Keras1File, is_hdf5, read_keras1_h5
from rnncli.documents.keras2 import normalize
from rnncli.config.keras_weights import match_file_to_plan

DATA_PATH_KEYS = ("train", "y_train", "validation", "y_validation")


@dataclass
class ImportResult:
    run_dir: Path
    layers: int
    params: int
    weights_from: str | None
    training: dict | None
    notes: list[str] = field(default_factory=list)


@dataclass
class _Source:
    document: dict
    training_config: dict | None
    weights: Keras1File | None
    label: str  # where the architecture came from, for messages
    keras_version: str | None = None
    notes: list[str] = field(default_factory=list)

    @property
    def converted(self) -> bool:
        """A Keras 2 document read as Keras 1: its optimizer state has another layout."""
        return "converted_from_keras" in self.document


def import_keras1(source: Path, run_path: Path, *, weights: Path | None = None, overrides: list[str] | None = None,
                  force: bool = False, argv: list[str] | None = None) -> ImportResult:
    """Import ``source`` (and ``weights``) into the new run directory ``run_path``; see the module docstring."""
    from rnncli.runs.store import RunStore

    run = RunStore(run_path)
    if run.exists() and not force:
        raise UserInputError(f"{run.path} is not empty; choose a new run directory or pass --force to replace it")
    loaded = _read_source(Path(source), weights)
    notes: list[str] = list(loaded.notes)
    try:
        training, training_notes = training_from_keras(loaded.document, loaded.training_config)
    except Refusal as exc:
        raise UserInputError(f"{loaded.label}: {exc}") from None
    notes += training_notes
    raw = {"seed": 1337, "model": {k: v for k, v in loaded.document.items() if k not in ("loss", "optimizer",
                                                                                         "sample_weight_mode")}}
    if training is not None:
        raw["training"] = training
    for override in overrides or []:
        apply_override(raw, override, "--set")
    _absolute_data_paths(raw)
    text = _config_text(raw, loaded)
    config = _validate(text, loaded.label)
    if config.training is None:
        notes.append("no training section (the model was never compiled): `evaluate` and `train` need "
                     "`--set training.loss=...` (at import or on the command line)")
    by_name: dict = {}
    if loaded.weights is not None:
        by_name = match_file_to_plan(config.model, loaded.weights)
    else:
        notes.append("no weights given: the weights are initialised as the config says (seed 1337); pass "
                     "--weights FILE.h5 to load trained ones")
    info = {"source": str(Path(source).resolve()), "source_sha256": _sha256(Path(source)),
            "keras_version": loaded.keras_version,
            "weights": str(loaded.weights.path.resolve()) if loaded.weights is not None else None,
            "weights_backend": loaded.weights.backend if loaded.weights is not None else None}
    if weights is not None:
        info["weights_sha256"] = _sha256(Path(weights))
    notes += _write_run(run, text, config, by_name, loaded, info, force, argv)
    return ImportResult(run.path, len(config.model.layers), config.model.params,
                        info["weights"], config.training, notes)


def _read_source(source: Path, weights: Path | None) -> _Source:
    if not source.exists():
        raise UserInputError(f"{source}: file not found")
    problem = None if is_keras_archive(source) else empty_or_foreign(source)  # a zip that is no `.keras` model
    if problem is not None:
        raise ConfigError([problem])
    weights_file = read_keras1_h5(weights) if weights is not None else None
    if is_keras_archive(source):  # Keras 3 `.keras`: config.json (+ compile_config) and model.weights.h5
        document, training_config, full = read_keras_archive(source)
        label, version = f"{source} (config.json)", full.keras_version
        weights_file = weights_file or full
    elif is_hdf5(source):
        full = read_keras1_h5(source)
        if full.model_config is None:
            raise UserInputError(f"{source} holds weights only (a save_weights() file, no `model_config`): pass the "
                                 f"architecture file (to_json()/to_yaml()) as SOURCE and this file as --weights")
        label = f"{source} (model_config)"
        document, training_config, version = full.model_config, full.training_config, full.keras_version
        if version and "keras_version" not in document:  # Keras 2 save_model() keeps the version on the file only
            document = dict(document, keras_version=version) if not version.startswith("1") else document
        weights_file = weights_file or full
    else:
        # an architecture document: validate it in place first, so errors point at its lines
        from rnncli.documents.yaml_loader import load_yaml

        load_config(source, check_files=False)
        document, training_config, label = plain(load_yaml(source)), None, str(source)
        if not isinstance(document, dict) or "class_name" not in document:
            raise UserInputError(f"{source}: not a Keras model document (no `class_name`/`config`); an rnncli "
                                 f"config needs no import: train or predict it directly")
        version = document.get("keras_version")
    try:
        document, notes = normalize(document)
    except Refusal as exc:
        raise ConfigError([Diagnostic(label, 0, 0, exc.args[0])]) from None
    return _Source(document, training_config, weights_file, label, version, notes)


def _absolute_data_paths(raw: dict) -> None:
    """``--set data.train=x.npz`` is relative to where the command runs; the config will live in the run."""
    data = raw.get("data")
    if isinstance(data, dict):
        for key in DATA_PATH_KEYS:
            if isinstance(data.get(key), str):
                data[key] = str(Path(data[key]).resolve())


def _config_text(raw: dict, loaded: _Source) -> str:
    header = (f"# imported by `rnncli import` from {loaded.label}"
              f"{f' (Keras {loaded.keras_version})' if loaded.keras_version else ''}\n"
              "# model: the Keras 1 document as written; the weights are in checkpoints/\n")
    return header + yaml.safe_dump(plain(raw), sort_keys=False, default_flow_style=None, width=110)


def _validate(text: str, label: str) -> Config:
    """Validate the run's config text; errors name the source, not the scratch file."""
    scratch = Path(tempfile.mkdtemp(prefix="rnncli-import-"))
    try:
        path = scratch / "config.yaml"
        path.write_text(text, encoding="utf-8")
        try:
            return load_config(path)
        except ConfigError as exc:
            raise ConfigError([Diagnostic(label, 0, 0, d.message) for d in exc.diagnostics]) from None
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _sha256(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _write_run(run: Any, text: str, config: Config, by_name: dict, loaded: _Source, info: dict, force: bool,
               argv: list[str] | None) -> list[str]:
    """Build the model, load the weights (and optimizer state), write config, checkpoint and run.json."""
    from rnncli.platform.runtime import prepare_tensorflow

    tf = prepare_tensorflow(False)  # first: it silences TensorFlow's start-up lines
    from rnncli.commands.keras_apply import keras2_optimizer_arrays, set_model_weights, set_optimizer_state
    from rnncli.runs.checkpoints import Checkpoints
    from rnncli.runs.provenance import now, provenance
    from rnncli.training.hooks import HookList, training_hooks
    from rnncli.training.graph_loop import make_engine

    notes: list[str] = []
    run.path.mkdir(parents=True, exist_ok=True)
    with run.lock():
        if force and run.checkpoints.exists():
            shutil.rmtree(run.checkpoints)
            run.history_path.unlink(missing_ok=True)
        with tf.device("/CPU:0"):
            engine = make_engine(config, jit_compile=False)
            set_model_weights(engine.model, by_name)
            optimizer_arrays = loaded.weights.optimizer_weights if loaded.weights is not None else None
            name = (config.training or {}).get("optimizer", {}).get("name", "?")
            reason = None
            if optimizer_arrays and loaded.converted:
                optimizer_arrays, reason = keras2_optimizer_arrays(name, optimizer_arrays)
            if reason is not None:
                info["optimizer_state"] = f"dropped: {reason}"
                notes.append(f"optimizer_weights dropped ({reason}); training starts with fresh optimizer slots")
            elif optimizer_arrays:
                reason = set_optimizer_state(engine.model, engine.optimizer, name, by_name, optimizer_arrays,
                                             iterations_first=loaded.converted)
                info["optimizer_state"] = "imported" if reason is None else f"dropped: {reason}"
                notes.append("optimizer state (optimizer_weights) imported into the optimizer's slots" if reason is None
                             else f"optimizer_weights dropped ({reason}); training starts with fresh optimizer slots")
            config_path = run.config_path
            run.path.mkdir(parents=True, exist_ok=True)
            run.write_config(text, config.resolved())
            settings = config.training_settings
            # the training hooks' state is part of every run's checkpoint: `train --resume` restores it
            HookList(training_hooks(settings)).bind(engine)
            Checkpoints.for_run(engine.trackables(), run.checkpoints, settings["checkpoint"]).save("latest")
        record = provenance(config, config_path, "/CPU:0", "CPU (import)", argv, engine.jit_compile)
        record.update(status="imported", started=now(), imported_from=info, overrides=[], import_notes=notes)
        run.write_run_json(record)
    return notes


def build_imported_model(source: Path, weights: Path | None = None, overrides: list[str] | None = None
                         ) -> tuple[Config, Any]:
    """The model ``rnncli import`` would write, built in memory: ``(config, Sequential with the Keras 1 weights)``.

    The same reading, validation and weight matching as ``import_keras1``, without a run directory.
    """
    from rnncli.commands.keras_apply import set_model_weights
    from rnncli.model import build_model

    loaded = _read_source(Path(source), weights)
    raw = {"seed": 1337, "model": {k: v for k, v in loaded.document.items() if k not in ("loss", "optimizer",
                                                                                         "sample_weight_mode")}}
    for override in overrides or []:
        apply_override(raw, override, "--set")
    config = _validate(_config_text(raw, loaded), loaded.label)
    model = build_model(config.model, config.seed)
    if loaded.weights is not None:
        set_model_weights(model, match_file_to_plan(config.model, loaded.weights))
    return config, model
