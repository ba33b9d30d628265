"""``rnncli export``: a run as a SavedModel, TFLite or ONNX model (the formats live in ``rnncli.export``)."""

from __future__ import annotations

import re
from pathlib import Path

from rnncli.commands.source import load_source
from rnncli.config.graph_plan import output_key
from rnncli.config.graph_training import needs_graph_training
from rnncli.data.sets import ensure_folder
from rnncli.errors import UserInputError

# what TensorFlow accepts as the name of a signature's input
SIGNATURE_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.\-]*")


def export(run_path: Path, output: Path, fmt: str = "savedmodel", force: bool = False, checkpoint: str = "latest"
           ) -> list[str]:
    """Export the ``checkpoint`` (``latest`` or ``best``) of a run as a SavedModel folder, a TFLite file or an ONNX
    file (``rnncli.export``); returns lines describing what was written."""
    from rnncli.export import check_destination, export_model

    check_destination(output, fmt, force)
    loaded = load_source(run_path, checkpoint, "cpu", before_tensorflow=lambda config: _check_graph(config, fmt))
    ensure_folder(output.parent, "-o")
    plan = loaded.config.model
    lines = export_model(loaded.engine.model, plan, output, fmt, loaded.config.training_settings["batch_size"])
    if fmt == "savedmodel" and needs_graph_training(plan):
        lines.append("predict(" + ", ".join(f"{i.name}={_shape(i.shape)} {i.dtype}" for i in plan.inputs) + ") -> "
                     + ", ".join(f"{output_key(o)} {_shape(plan.output_shapes[o])}" for o in plan.outputs))
    return lines + _write_normalization(loaded, output, fmt)


def _shape(shape) -> str:
    return "[" + ", ".join("None" if d is None else str(d) for d in shape) + "]"


def _check_graph(config, fmt: str) -> None:
    """A graph with several inputs or outputs exports with its inputs and outputs by name: names TensorFlow accepts
    in a signature, and no output named as an input (TFLite and ONNX keep one namespace)."""
    plan = config.model
    if not needs_graph_training(plan):
        return
    for name in plan.input_names:
        if not SIGNATURE_NAME.fullmatch(name):
            raise UserInputError(f"input {name!r}: an exported signature names its inputs with a letter, then "
                                 f"letters, digits, `_`, `.` or `-`; rename the input to export the model")
    keys = [output_key(output) for output in plan.outputs]
    for name in plan.input_names:
        if name in keys:
            raise UserInputError(f"output {name!r} has the name of an input; an exported model names each once: "
                                 f"rename the input or the output layer to export the model")


def _write_normalization(loaded, output: Path, fmt: str) -> list[str]:
    """A series run's statistics beside the export (``model.normalization.json``; a SavedModel's in its
    ``assets.extra/``): the exported model takes normalized inputs and gives normalized outputs."""
    import json

    from rnncli.data.series_inference import source_normalization
    from rnncli.runs.files import atomic_write_text

    normalization = source_normalization(loaded.config, loaded.run.path if loaded.run else None)
    if normalization is None:
        return []
    if fmt == "savedmodel":
        path = output / "assets.extra" / "normalization.json"
        path.parent.mkdir(exist_ok=True)
    else:
        path = output.with_name(output.stem + ".normalization.json")
    atomic_write_text(path, json.dumps(normalization.to_json(), indent=1) + "\n")
    return [f"normalization ({normalization.method}): {path}: feed x = (value - inputs.shift) / inputs.scale and "
            f"read y * targets.scale + targets.shift"]
