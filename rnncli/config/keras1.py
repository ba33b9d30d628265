"""Read Keras 1 ``model.to_yaml()`` documents as rnncli layer lists.

A Keras 1 document is ``{class_name: Sequential, config: [{class_name: LSTM, config: {...}}, ...], keras_version}``
(``!!python/tuple`` values are read as lists by the loader). Each layer becomes ``{type: <class_name>, **config}``
minus the keys Keras 1 writes that carry no meaning here (``input_dtype``, a regularizer's ``name``, empty
constraints); the positions of the original keys are kept so errors still point into the user's file.
"""

from __future__ import annotations

from typing import Any

from rnncli.config.values import Diagnostics, type_name
from rnncli.config.yaml_loader import MarkedDict, MarkedList

# Keys Keras 1 serialises that rnncli accepts only when empty (null).
_MUST_BE_NULL = ("W_constraint", "b_constraint", "U_constraint", "activity_regularizer")
_DROPPED = ("input_dtype", "create_input_layer")


def is_keras1_document(raw: Any) -> bool:
    return isinstance(raw, dict) and "class_name" in raw and "config" in raw


def keras1_to_layers(doc: dict, diags: Diagnostics) -> list | None:
    """Convert a Keras 1 Sequential document into a list of rnncli layer mappings (None after reporting errors)."""
    if doc.get("class_name") != "Sequential":
        diags.add(doc, "class_name", f"model: only Keras 1 `Sequential` documents are supported, got "
                  f"{doc.get('class_name')!r}")
        return None
    entries = doc["config"]
    if isinstance(entries, dict) and "layers" in entries:  # Keras 1.2/2.x style {name, layers}
        entries = entries["layers"]
    if not isinstance(entries, list) or not entries:
        diags.add(doc, "config", f"model.config must be a non-empty list of layers, got {type_name(entries)}")
        return None
    result = MarkedList()
    result.mark, result.marks = entries.mark if isinstance(entries, MarkedList) else doc.mark, {}
    for index, entry in enumerate(entries):
        converted = _convert(entry, entries, index, diags)
        if converted is None:
            return None
        result.append(converted)
        result.marks[index] = entries.where(index) if isinstance(entries, MarkedList) else doc.mark
    return result


def _convert(entry: Any, container: Any, key: Any, diags: Diagnostics) -> MarkedDict | None:
    if not isinstance(entry, dict) or "class_name" not in entry or not isinstance(entry.get("config"), dict):
        diags.add(container, key, "a Keras 1 layer entry must be a mapping with `class_name` and `config`")
        return None
    config = entry["config"]
    layer = MarkedDict()
    layer.mark = entry.mark if isinstance(entry, MarkedDict) else container.mark
    layer.marks = {"type": entry.where("class_name") if isinstance(entry, MarkedDict) else layer.mark}
    layer["type"] = entry["class_name"]
    for name, value in config.items():
        mark = config.where(name) if isinstance(config, MarkedDict) else layer.mark
        if name in _DROPPED:
            continue
        if name in _MUST_BE_NULL:
            if value is not None:
                diags.add(config, name, f"`{name}` is not supported by rnncli (only null)")
            continue
        if name.endswith("regularizer") and isinstance(value, dict):
            value = _strip_name(value)
        if name == "layer" and isinstance(value, dict) and "class_name" in value:
            value = _convert(value, config, name, diags)
            if value is None:
                return None
        layer[name] = value
        layer.marks[name] = mark
    return layer


def _strip_name(regularizer: dict) -> dict:
    """Keras 1 writes ``{name: L1L2Regularizer, l1, l2}``; rnncli wants ``{l1, l2}``."""
    out = MarkedDict({k: v for k, v in regularizer.items() if k != "name"})
    out.mark = getattr(regularizer, "mark", None) or MarkedDict.mark
    out.marks = {k: v for k, v in getattr(regularizer, "marks", {}).items() if k != "name"}
    return out
