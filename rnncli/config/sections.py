"""Checking a mapping against its ``Arg`` declarations: unknown keys, every value, defaults filled in."""

from __future__ import annotations

import copy
from pathlib import Path
from typing import Any

from rnncli.config.args import Arg
from rnncli.config.values import INVALID, Diagnostics, check_unknown_keys, check_value, type_name, where


def check_section(section: Any, args: tuple[Arg, ...], parent: dict, key: str, path_text: str, path: Path,
                   diags: Diagnostics) -> dict | None:
    """Generic check of a flat mapping against declarations; returns it resolved with defaults."""
    if not isinstance(section, dict):
        diags.add(parent, key, f"{path_text} must be a mapping, got {type_name(section)}")
        return None
    check_unknown_keys(diags, section, [a.name for a in args], path_text, f"the {path_text} section")
    return resolve_args(args, section, parent, key, path_text, "", path, diags)


def resolve_args(args: tuple[Arg, ...], mapping: dict, container: Any, key: Any, where_text: str, what: str,
                  path: Path, diags: Diagnostics, nested: Any = None) -> dict | None:
    """Check every declared argument of ``mapping`` and fill in defaults; None when any value was invalid.

    ``nested`` resolves ``layer``-kind values (wrappers); ``path``-kind values are resolved against the config.
    """
    result: dict[str, Any] = {}
    ok = True
    for arg in args:
        if arg.name in mapping:
            value = mapping[arg.name]
            if arg.kind == "layer":
                value = nested(value) if nested is not None else INVALID
                value = INVALID if value is None else value
            else:
                value = check_value(diags, arg, value, mapping, arg.name, where_text)
                if arg.kind == "path" and value not in (INVALID, None):
                    value = check_path(value, path, mapping, arg.name, f"{where_text}.{arg.name}", diags)
                    value = INVALID if value is None else value
        elif arg.required:
            diags.add(container, key, f"{where_text}: missing required key `{arg.name}`{what} ({arg.help})")
            value = INVALID
        else:
            value = copy.deepcopy(arg.default)
        ok = ok and value is not INVALID
        result[arg.name] = value
    return result if ok else None


def check_path(value: str, path: Path, container: dict, key: str, full: str, diags: Diagnostics) -> str | None:
    """Resolve a file path: relative to the config, or to the current directory when given with --set."""
    base = Path.cwd() if where(container, key).origin is not None else path.parent
    target = (base / value).resolve()
    if diags.check_files and not target.exists():
        diags.add(container, key, f"{full}: file not found: {value} (looked for {target})")
        return None
    return str(target)
