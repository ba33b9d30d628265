"""Read Keras 1 ``model.to_yaml()``/``to_json()`` documents as rnncli layer lists.

A Keras 1 document is ``{class_name: Sequential, config: [{class_name: LSTM, config: {...}}, ...], keras_version}``
(``!!python/tuple`` values are read as lists by the loader); ``rnncli.documents.keras_architecture`` first reduces functional
single-chain ``Model`` documents and ``TimeDistributedDense`` to that form, and refuses what rnncli cannot run.
Each layer becomes ``{type: <class_name>, **config}`` minus the keys Keras 1 writes that carry no meaning here
(``input_dtype``, a regularizer's ``name``, null constraints); the positions of the original keys are kept so
errors still point into the user's file.
"""

from __future__ import annotations

from typing import Any

from rnncli.config.args import LAYER_SPECS
from rnncli.config.values import Diagnostics, where
from rnncli.documents.yaml_loader import MarkedDict, MarkedList
from rnncli.documents.keras_architecture import Refusal, to_sequential_entries, training_from_keras
from rnncli.documents.keras2 import normalize

# Keys Keras 1 serialises on many layers; a layer type without the key in its Args accepts only null.
_WHERE_DECLARED = ("W_constraint", "b_constraint", "U_constraint", "activity_regularizer")
_DROPPED = ("input_dtype", "create_input_layer")
# Keras 1.0.x `to_yaml()`/`to_json()` wrote the compile arguments at the top level (spec section 0, 1.0.7)
TRAINING_KEYS = ("loss", "optimizer", "sample_weight_mode")


def is_keras1_document(raw: Any) -> bool:
    return isinstance(raw, dict) and "class_name" in raw and "config" in raw


def wrap_document(raw: Any, diags: Diagnostics) -> tuple[Any, list[str]]:
    """A bare Keras document becomes ``{model: doc, training: ...}`` (training from 1.0.x top-level compile
    arguments), so ``--set data.train=...``/``--set training.loss=...`` land beside it. Other Keras versions are
    refused here with one line. Returns the document to validate and notices about what was not carried over."""
    try:
        raw, notes = normalize(raw)
    except Refusal as exc:
        diags.add(exc.node, exc.key, exc.args[0])
        return None, []
    if not is_keras1_document(raw):
        return raw, notes
    wrapped = MarkedDict(model=raw)
    wrapped.mark, wrapped.marks = where(raw), {"model": where(raw)}
    if any(key in raw for key in TRAINING_KEYS):
        try:
            training, training_notes = training_from_keras(raw)
            notes += training_notes
        except Refusal as exc:
            diags.add(exc.node, exc.key, exc.args[0])
            return None, []
        if training is not None:
            section = MarkedDict(training)
            section.mark = raw.where("loss") if isinstance(raw, MarkedDict) else where(raw)
            section.marks = {k: section.mark for k in training}
            wrapped["training"] = section
            wrapped.marks["training"] = section.mark
    return wrapped, notes


def keras1_to_layers(doc: dict, diags: Diagnostics) -> list | None:
    """Convert a Keras 1 model document into a list of rnncli layer mappings (None after reporting errors)."""
    try:
        doc, _ = normalize(doc)
        entries = to_sequential_entries(doc)
    except Refusal as exc:
        diags.add(exc.node if exc.node is not None else doc, exc.key, exc.args[0])
        return None
    result = MarkedList()
    result.mark, result.marks = entries.mark if isinstance(entries, MarkedList) else where(doc), {}
    for index, entry in enumerate(entries):
        converted = _convert(entry, entries, index, diags, keras1_layout="converted_from_keras" not in doc)
        if converted is None:
            return None
        result.append(converted)
        result.marks[index] = getattr(entry, "mark", None) or where(doc)
    return result


def _convert(entry: Any, container: Any, key: Any, diags: Diagnostics, keras1_layout: bool = True
             ) -> MarkedDict | None:
    """``keras1_layout``: the document is Keras 1's own (not converted from Keras 2/3, whose Conv1D kernel is
    rnncli's [L, D, F])."""
    if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config"), dict):
        diags.add(container, key, "a Keras 1 layer entry must be a mapping with `class_name` and `config`")
        return None
    config = entry["config"]
    layer = MarkedDict()
    layer.mark = entry.mark if isinstance(entry, MarkedDict) else where(container)
    layer.marks = {"type": entry.where("class_name") if isinstance(entry, MarkedDict) else layer.mark}
    layer["type"] = entry["class_name"]
    for name, value in config.items():
        mark = config.where(name) if isinstance(config, MarkedDict) else layer.mark
        if name in _DROPPED:
            continue
        if name in _WHERE_DECLARED:
            if value is None:
                continue
            spec = LAYER_SPECS.get(entry["class_name"])
            if spec is None or name not in spec.arg_index:
                diags.add(config, name, f"`{name}` is not supported by rnncli on {entry['class_name']} (only null)")
                continue
            if keras1_layout and entry["class_name"] == "Convolution1D" and name == "W_constraint" \
                    and not _is_nonneg(value):
                diags.add(config, name, "`W_constraint` of a Keras 1 Convolution1D: Keras 1 stored the kernel "
                          "[L, 1, D, F] (or [F, D, L, 1]), so its norm axes do not carry over to rnncli's [L, D, F]; "
                          "only nonneg or null is imported")
                continue
        if name == "activity_regularizer" and isinstance(value, dict):
            # Keras 1.0-1.1's ActivityRegularizer averaged over the batch; 1.2's L1L2Regularizer sums
            batch_mean = value.get("name") == "ActivityRegularizer"
            value = _strip_name(value)
            if "batch_mean" not in value:
                value["batch_mean"] = batch_mean
                value.marks["batch_mean"] = value.mark
        elif name.endswith("regularizer") and isinstance(value, dict):
            value = _strip_name(value)
        if name == "layer" and isinstance(value, dict) and "class_name" in value:
            value = _convert(value, config, name, diags, keras1_layout)
            if value is None:
                return None
        layer[name] = value
        layer.marks[name] = mark
    return layer


def _is_nonneg(constraint: Any) -> bool:
    name = constraint.get("name") if isinstance(constraint, dict) else constraint
    return isinstance(name, str) and name.lower().replace("_", "") == "nonneg"


def _strip_name(regularizer: dict) -> dict:
    """Keras 1 writes ``{name: L1L2Regularizer, l1, l2}``; rnncli wants ``{l1, l2}``."""
    out = MarkedDict({k: v for k, v in regularizer.items() if k != "name"})
    out.mark = getattr(regularizer, "mark", None) or MarkedDict.mark
    out.marks = {k: v for k, v in getattr(regularizer, "marks", {}).items() if k != "name"}
    return out
