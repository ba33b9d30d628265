"""``rnncli train CONFIG --init-from RUN[:latest|best]``: a new run that starts from another run's weights.

Weights are matched **by layer name and shape**: every layer of the new model whose name exists in the source
model takes that layer's weights (each weight by role: ``kernel``, ``recurrent_kernel``, ``bias``, ...; wrapped
layers by their path, ``bidi__forward__kernel``); a layer the source lacks keeps its initialisation (a new head
for fine-tuning); a layer whose weights differ in shape or roles is an error, one line per mismatch. Optimizer
slots, states and counters start fresh. ``trainable: false`` on a layer keeps its loaded weights fixed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import UserInputError
from rnncli.runs import RunStore
from rnncli.runs.checkpoints import WHICH


def parse_init_from(text: str) -> tuple[Path, str]:
    """``RUN`` or ``RUN:latest`` / ``RUN:best`` -> (run directory, which checkpoint)."""
    which = "latest"
    head, sep, tail = text.rpartition(":")
    if sep and tail in WHICH:
        text, which = head, tail
    elif sep and tail and "/" not in tail and not Path(text).exists():
        raise UserInputError(f"--init-from {text}: the checkpoint after `:` must be `latest` or `best`, got {tail!r}")
    path = Path(text)
    if not RunStore(path).is_run():
        raise UserInputError(f"--init-from {text}: not a run directory (no run.json/config.yaml); give a trained or "
                             f"imported run")
    return path, which


def layer_weights(model: Any) -> dict[str, dict[str, Any]]:
    """{layer name: {weight path: variable}} of a ``Sequential`` (wrapped layers' weights under their layer)."""
    from rnncli.layers.stack import variable_paths

    return {layer.layer_name: dict(variable_paths(layer, layer.layer_name)) for layer in model.layers}


def _shape(array: Any) -> str:
    return "(" + ", ".join(str(d) for d in array.shape) + ("," if len(array.shape) == 1 else "") + ")"


def copy_matching(target: Any, source: Any, source_name: str) -> tuple[list[str], list[str]]:
    """Assign ``source``'s weights to ``target``'s layers of the same name (both ``Sequential``); returns (loaded
    layer names, layers kept at their initialisation). ``UserInputError`` listing every mismatch, before any
    weight is changed."""
    ours, theirs = layer_weights(target), layer_weights(source)
    problems: list[str] = []
    loaded: list[str] = []
    fresh: list[str] = []
    pairs = []
    for name, weights in ours.items():
        if not weights:
            continue
        if name not in theirs:
            fresh.append(name)
            continue
        other = theirs[name]
        for path, variable in weights.items():
            if path not in other:
                problems.append(f"layer `{name}`: weight `{path}` has no counterpart in {source_name} (its weights: "
                                f"{', '.join(other) or 'none'})")
            elif tuple(other[path].shape) != tuple(variable.shape):
                problems.append(f"layer `{name}`: weight `{path}` is {_shape(variable)} here but "
                                f"{_shape(other[path])} in {source_name}")
            else:
                pairs.append((variable, other[path]))
        for path in other:
            if path not in weights:
                problems.append(f"layer `{name}`: {source_name} has weight `{path}`, which this layer does not "
                                f"have (a different layer type or settings)")
        loaded.append(name)
    if problems:
        raise UserInputError(f"--init-from {source_name}: {len(problems)} weight(s) do not fit (rename a layer to "
                             f"start it from its initialisation instead):\n" + "\n".join(problems))
    if not loaded:
        raise UserInputError(f"--init-from {source_name}: no layer name of this model is in that run (its layers: "
                             f"{', '.join(theirs)}); nothing would be loaded")
    for variable, value in pairs:
        variable.assign(np.asarray(value.numpy()))
    return loaded, fresh


def init_from(engine: Any, text: str, device_spec: str) -> tuple[list[str], dict]:
    """Load the weights of the run ``text`` (``RUN[:latest|best]``) into ``engine``'s model; returns (notes, the
    record for ``run.json``)."""
    from rnncli.commands.source import load_source

    path, which = parse_init_from(text)
    source = load_source(path, which, device_spec)
    loaded, fresh = copy_matching(engine.model, source.engine.model, str(path))
    frozen = [layer.name for layer in engine.config.model.layers if layer.config.get("trainable") is False]
    notes = [f"initialised from {path} ({which} checkpoint {source.checkpoint_path}): loaded "
             f"{', '.join(loaded)}" + (f"; initialised afresh: {', '.join(fresh)}" if fresh else "")
             + (f"; frozen (trainable: false): {', '.join(frozen)}" if frozen else "")]
    record = {"run": str(path.resolve()), "checkpoint": which, "path": source.checkpoint_path, "loaded": loaded,
              "initialised": fresh}
    return notes, record


def imported_config_note(config_path: Path, run_path: Path) -> str | None:
    """Issue 30 item 14: a new run from the ``config.yaml`` of another run starts from random weights; say so."""
    folder = Path(config_path).resolve().parent
    store = RunStore(folder)
    if not store.is_run() or folder == Path(run_path).resolve() or store.config_path.resolve() != \
            Path(config_path).resolve():
        return None
    info = store.read_run_json()
    what = f"imported from {info['imported_from'].get('source')}" if isinstance(info.get("imported_from"), dict) \
        else "a trained run"
    return (f"{config_path} is the config of the run {folder} ({what}); this new run starts from random weights, "
            f"not from that run's: pass --init-from {folder} to start from them")
