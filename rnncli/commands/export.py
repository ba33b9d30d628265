"""``rnncli export``: a run as a SavedModel, TFLite or ONNX model (the formats live in ``rnncli.export``)."""

from __future__ import annotations

from pathlib import Path

from rnncli.commands.source import load_source
from rnncli.data.sets import ensure_folder


def export(run_path: Path, output: Path, fmt: str = "savedmodel", force: bool = False, checkpoint: str = "latest"
           ) -> list[str]:
    """Export the ``checkpoint`` (``latest`` or ``best``) of a run as a SavedModel folder, a TFLite file or an ONNX
    file (``rnncli.export``); returns lines describing what was written."""
    from rnncli.export import check_destination, export_model

    check_destination(output, fmt, force)
    loaded = load_source(run_path, checkpoint, "cpu")
    ensure_folder(output.parent, "-o")
    return export_model(loaded.engine.model, loaded.config.model, output, fmt,
                        loaded.config.training_settings["batch_size"])
