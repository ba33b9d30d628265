"""Checking one value against its ``Arg`` declaration, and collecting located diagnostics."""

from __future__ import annotations

import difflib
import math
from typing import Any

from rnncli.config.args import ACTIVATIONS, INITIALIZER_SCALES, INITIALIZERS, KERAS2_NAMES, Arg
from rnncli.config.constraints import check_activity_regularizer, check_constraint
from rnncli.documents.yaml_loader import Mark, MarkedDict, MarkedList
from rnncli.errors import Diagnostic

INVALID = object()  # returned by checks that reported an error
MAX_INT = 2**31 - 1


class Diagnostics:
    """Collects every problem of one file with its position."""

    def __init__(self, file: str, check_files: bool = True):
        self.file = file
        self.check_files = check_files  # whether referenced data/weights files must exist
        self.items: list[Diagnostic] = []

    def add(self, container: Any, key: Any, message: str) -> None:
        self.add_at(where(container, key), message)

    def add_at(self, mark: Mark, message: str) -> None:
        if mark.origin is not None:  # a value from the command line: located there, not at a line of the file
            self.items.append(Diagnostic(mark.origin, 0, 0, message))
        else:
            self.items.append(Diagnostic(self.file, mark.line, mark.column, message))


def where(container: Any, key: Any = None) -> Mark:
    """Position of ``container[key]`` (or of the container) when it came from the YAML loader."""
    if isinstance(container, (MarkedDict, MarkedList)):
        return container.where(key) if key is not None else container.mark
    return Mark(0, 0)


def suggest(word: str, candidates: list[str] | tuple[str, ...]) -> str:
    """A " (did you mean `x`?)" suffix for a misspelled name, or ""."""
    if not isinstance(word, str):
        return ""
    lowered = {c.lower(): c for c in candidates}
    if word.lower() in lowered:
        return f" (did you mean `{lowered[word.lower()]}`?)"
    match = difflib.get_close_matches(word, list(candidates), n=1, cutoff=0.6)
    return f" (did you mean `{match[0]}`?)" if match else ""


def type_name(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, int):
        return "an integer"
    if isinstance(value, float):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, dict):
        return "a mapping"
    return type(value).__name__


def show(value: Any) -> str:
    text = repr(value) if not isinstance(value, (dict, list)) else type_name(value)
    return text if len(text) <= 60 else text[:57] + "..."


def check_unknown_keys(diags: Diagnostics, mapping: dict, allowed: list[str], path: str, what: str) -> None:
    """Report each key of ``mapping`` that is not in ``allowed``, with a suggestion."""
    for key in mapping:
        if key not in allowed:
            keras1 = KERAS2_NAMES.get(key) if isinstance(key, str) else None
            hint = (f" (`{key}` is the Keras 2 name; rnncli uses the Keras 1 name `{keras1}`)"
                    if keras1 in allowed else suggest(key, allowed))
            if not hint:
                hint = ". Allowed keys: " + ", ".join(sorted(allowed)) if len(allowed) <= 12 else ""
            mark = mapping.where_key(key) if isinstance(mapping, MarkedDict) else where(mapping, key)
            diags.add_at(mark, f"{path}: unknown key `{key}` for {what}{hint}")


def check_value(diags: Diagnostics, arg: Arg, value: Any, container: Any, key: Any, path: str) -> Any:
    """Check ``value`` against ``arg``; return the normalised value, or ``INVALID`` after reporting."""
    full = f"{path}.{arg.name}" if path else arg.name
    if value is None:
        if arg.nullable or arg.default is None:
            return None
        diags.add(container, key, f"{full} must not be null; expected {_expected(arg)}")
        return INVALID
    kind = arg.kind
    if kind == "bool":
        if not isinstance(value, bool):
            diags.add(container, key, f"{full} must be true or false, got {show(value)}")
            return INVALID
        return value
    if kind == "int":
        if isinstance(value, bool) or not isinstance(value, int):
            if isinstance(value, float) and value.is_integer():
                value = int(value)
            else:
                diags.add(container, key, f"{full} must be an integer, got {type_name(value)} {show(value)}")
                return INVALID
        return _check_range(diags, arg, value, container, key, full)
    if kind == "float":
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            hint = " (write numbers without quotes)" if isinstance(value, str) and _looks_numeric(value) else ""
            diags.add(container, key, f"{full} must be a number, got {type_name(value)} {show(value)}{hint}")
            return INVALID
        if not math.isfinite(value):
            diags.add(container, key, f"{full} must be a finite number, got {value}")
            return INVALID
        return _check_range(diags, arg, float(value), container, key, full)
    if kind in ("str", "path"):
        if not isinstance(value, str) or not value:
            diags.add(container, key, f"{full} must be a non-empty string, got {type_name(value)} {show(value)}")
            return INVALID
        return value
    if kind == "choice":
        choices = [str(c) for c in arg.choices]
        if isinstance(value, bool) and {"true", "false"} <= set(choices):
            value = "true" if value else "false"
        if value not in arg.choices:
            diags.add(container, key,
                      f"{full} must be {arg.describe_range()}, got {show(value)}{suggest(value, choices)}")
            return INVALID
        return value
    if kind == "activation":
        if not isinstance(value, str) or value not in ACTIVATIONS:
            diags.add(container, key, f"{full}: unknown activation {show(value)}{suggest(value, ACTIVATIONS)}; "
                      f"expected {arg.describe_range()}")
            return INVALID
        return value
    if kind == "initializer":
        return _check_initializer(diags, arg, value, container, key, full)
    if kind == "regularizer":
        return _check_regularizer(diags, value, container, key, full)
    if kind in ("constraint", "activity_regularizer"):
        check = check_constraint if kind == "constraint" else check_activity_regularizer
        result, problems = check(value, full)
        for where_container, where_key, message in problems:
            if not isinstance(where_container, MarkedDict):  # the value itself, or a bare name made a mapping
                diags.add(container, key, message)
            else:
                diags.add(where_container, where_key, message)
        return INVALID if result is None else result
    if kind == "shape":
        return _check_shape(diags, value, container, key, full)
    if kind == "list":
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
            diags.add(container, key, f"{full} must be a list of names, got {type_name(value)}")
            return INVALID
        return list(value)
    return value


def _looks_numeric(text: str) -> bool:
    try:
        float(text)
        return True
    except ValueError:
        return False


def _expected(arg: Arg) -> str:
    described = arg.describe_range()
    base = {
        "int": "an integer",
        "float": "a number",
        "bool": "true or false",
        "str": "a string",
        "path": "a file path",
        "shape": "a list like [null, 10, 64]",
        "layer": "a layer mapping",
        "regularizer": "{l1: ..., l2: ...}",
        "constraint": "{name: maxnorm, m: ...}",
        "activity_regularizer": "{l1: ..., l2: ..., batch_mean: ...}",
    }.get(arg.kind, "a value")
    return f"{base} {described}".strip()


def _check_range(diags: Diagnostics, arg: Arg, value: float, container: Any, key: Any, full: str) -> Any:
    low, high = arg.low, arg.high
    if arg.kind == "int" and high is None:
        high = MAX_INT
    too_low = low is not None and (value <= low if arg.low_open else value < low)
    too_high = high is not None and (value >= high if arg.high_open else value > high)
    if too_low or too_high:
        if arg.kind == "int" and low == 1 and high == MAX_INT and not arg.high_open:
            expected = "a positive integer" + (" (at most 2^31-1)" if too_high else "")
        else:
            shown = Arg(arg.name, arg.kind, low=low, high=high, low_open=arg.low_open, high_open=arg.high_open)
            expected = shown.describe_range()
        diags.add(container, key, f"{full} must be {expected}, got {show(value)}")
        return INVALID
    return value


def _check_initializer(diags: Diagnostics, arg: Arg, value: Any, container: Any, key: Any, full: str) -> Any:
    if isinstance(value, str):
        name, scale = value, None
    elif isinstance(value, dict):
        check_unknown_keys(diags, value, ["name", "scale"], full, "an initializer")
        name, scale = value.get("name"), value.get("scale")
        if "name" not in value:
            diags.add(container, key, f"{full}: an initializer mapping needs `name`")
            return INVALID
        container, key = value, "name"
    else:
        diags.add(container, key, f"{full} must be an initializer name or {{name, scale}}, got {type_name(value)}")
        return INVALID
    if name not in INITIALIZERS:
        diags.add(container, key, f"{full}: unknown initializer {show(name)}{suggest(name, INITIALIZERS)}; "
                  f"expected {arg.describe_range()}")
        return INVALID
    if scale is not None:
        if name not in INITIALIZER_SCALES:
            diags.add(value, "scale", f"{full}: initializer `{name}` takes no scale")
            return INVALID
        if isinstance(scale, bool) or not isinstance(scale, (int, float)) or not math.isfinite(scale) or scale <= 0:
            diags.add(value, "scale", f"{full}.scale must be a positive number, got {show(scale)}")
            return INVALID
    return name if scale is None else {"name": name, "scale": float(scale)}


def _check_regularizer(diags: Diagnostics, value: Any, container: Any, key: Any, full: str) -> Any:
    if not isinstance(value, dict):
        diags.add(container, key, f"{full} must be a mapping like {{l1: 0.0, l2: 0.01}} or null, got {show(value)}")
        return INVALID
    check_unknown_keys(diags, value, ["l1", "l2"], full, "a regularizer")
    result = {}
    for name in ("l1", "l2"):
        amount = value.get(name, 0.0)
        if isinstance(amount, bool) or not isinstance(amount, (int, float)) or not math.isfinite(amount) \
                or amount < 0:
            diags.add(value, name, f"{full}.{name} must be a number >= 0, got {show(amount)}")
            return INVALID
        result[name] = float(amount)
    return result


def _check_shape(diags: Diagnostics, value: Any, container: Any, key: Any, full: str) -> Any:
    if not isinstance(value, list) or not value:
        diags.add(container, key, f"{full} must be a non-empty list like [null, 10, 64], got {show(value)}")
        return INVALID
    for i, dim in enumerate(value):
        if dim is None:
            continue
        if isinstance(dim, bool) or not isinstance(dim, int) or dim < 1 or dim > MAX_INT:
            diags.add(value, i, f"{full}[{i}] must be a positive integer or null, got {show(dim)}")
            return INVALID
    return tuple(value)
