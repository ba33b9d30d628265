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
    lines = export_model(loaded.engine.model, loaded.config.model, output, fmt,
                         loaded.config.training_settings["batch_size"])
    return lines + _write_normalization(loaded, output, fmt)


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
