"""``rnncli export``: a trained model as a TensorFlow SavedModel, a TFLite flatbuffer or an ONNX graph.

* ``savedmodel`` (a folder): ``predict`` keeps a stateful model's states in variables, plus ``reset_states``.
* ``tflite`` / ``onnx`` (a file): the pure function ``(x, *states) -> (y, *next_states)`` (a graph with several
  inputs or outputs: each by its name, ``layer:k`` spelled ``layer_k``); a stateful model's
  states are explicit inputs ``<layer>_h``/``<layer>_c`` and outputs ``<layer>_h_next``/..., and the run's current
  states are written beside the file as ``<name>.states.npz`` (keys = input names) to start from. Before it is
  kept, the file is run on a few rows and compared with the model (``rnncli.export.verify``).

TensorFlow is imported by the format modules only.
"""

from __future__ import annotations

import os
import shutil
import tempfile
from pathlib import Path

import numpy as np

from rnncli.errors import UserInputError
from rnncli.runs.faults import storage_error

FORMATS = ("savedmodel", "tflite", "onnx")
SUFFIXES = {"tflite": ".tflite", "onnx": ".onnx"}


def states_path(output: Path) -> Path:
    """Where the states of a stateful model exported to a file go: ``model.tflite`` -> ``model.states.npz``."""
    return output.with_name(output.stem + ".states.npz")


def check_destination(output: Path, fmt: str, force: bool) -> None:
    """Refuse an unknown format, a missing parent folder, a wrong suffix, or replacing something without --force."""
    if fmt not in FORMATS:
        raise UserInputError(f"unsupported export format {fmt!r}; supported: {', '.join(FORMATS)}")
    if fmt == "savedmodel":
        if output.exists() and (not output.is_dir() or any(output.iterdir())) and not force:
            raise UserInputError(f"{output} is not empty; choose another folder or pass --force to replace it")
        return
    if output.suffix.lower() != SUFFIXES[fmt]:
        raise UserInputError(f"-o: a {fmt} export is one file ending in {SUFFIXES[fmt]}, got {output}")
    if output.is_dir():
        raise UserInputError(f"-o: {output} is a folder; give a file name ending in {SUFFIXES[fmt]}")
    if output.exists() and not force:
        raise UserInputError(f"{output} exists; pass --force to replace it")


def export_model(model, plan, output: Path, fmt: str, batch_size: int = 32) -> list[str]:
    """Write ``model`` (a built ``Sequential``; ``plan`` its ``ModelPlan``) to ``output``; returns lines describing
    what was written. ``batch_size``: the batch a TFLite model is fixed to when its number of timesteps varies.
    The file or folder appears complete or not at all."""
    try:
        staging = Path(tempfile.mkdtemp(prefix=f".{output.name}.", dir=output.parent))
    except OSError as exc:  # a read-only, full or forbidden destination: name it, not the staging folder
        storage = storage_error(exc, output)
        if storage is None:
            raise
        raise storage from None
    try:
        if fmt == "savedmodel":
            from rnncli.export.savedmodel import write_savedmodel

            names = write_savedmodel(model, plan, staging / "model")
            if output.exists():
                shutil.rmtree(output) if output.is_dir() else output.unlink()
            os.replace(staging / "model", output)
            return [f"signatures: {', '.join(names)}"]
        from rnncli.export.functional import ExportSpec, current_states

        staged = staging / output.name
        if fmt == "tflite":
            from rnncli.export.tflite import write_tflite

            spec, notes = write_tflite(model, plan, batch_size, staged)
        else:
            from rnncli.export.onnx import write_onnx

            spec = ExportSpec.of(model, plan)
            notes = write_onnx(model, spec, staged)
        from rnncli.export.verify import verify_export

        checked = verify_export(model, spec, staged, fmt)  # a file that computes something else is never kept
        lines = [", ".join(f"input {i.name} {_shape(i)}" for i in spec.inputs)
                 + "".join(f", state {s.name} {_shape(s)}" for s in spec.states),
                 "outputs " + ", ".join(spec.outputs) + "".join(f", {s.name}_next" for s in spec.states),
                 *notes, checked.line(fmt)]
        if spec.states:
            np.savez(staging / "states.npz", **dict(zip(spec.state_names, current_states(model))))
            os.replace(staging / "states.npz", states_path(output))
            lines.append(f"the run's current states: {states_path(output)}")
        os.replace(staged, output)
        return lines
    except Exception as exc:  # a full disk mid-write (TensorFlow's or ours): name the destination
        storage = storage_error(exc, output)
        if storage is None:
            raise
        raise storage from None
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _shape(spec) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in spec.shape) + "]"
