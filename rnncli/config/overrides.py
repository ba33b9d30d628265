"""Command-line overrides (``--set key.path=value``) and the self-contained config a run directory keeps.

A value set with ``--set`` carries the position ``Mark(0, 0, origin="--set key.path=value")``, so a problem with it
is reported at the command line, not at the line of the file that held the old value. ``effective_config_text``
writes the document as it was trained: overrides applied and every file path absolute, so the run's
``config.yaml`` reproduces the run by itself.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from rnncli.config.args import LAYER_SPECS

from rnncli.config.section_args import DATA_ARGS
from rnncli.documents.yaml_loader import Mark, MarkedDict, MarkedList, MarkedLoader, load_yaml
from rnncli.errors import ConfigError, Diagnostic

# Keys whose values are file paths (relative to the config file, or to the current directory on the command line).
PATH_KEYS = frozenset([a.name for a in DATA_ARGS if a.kind == "path"] +
                      [a.name for spec in LAYER_SPECS.values() for a in spec.args if a.kind == "path"])


def apply_override(raw: Any, override: str, file: str, origin: str | None = None) -> None:
    """Set ``a.b.0.c=value`` in the loaded document (value parsed as YAML; list items by index).

    ``origin`` is how the user wrote it (``--batch-size 7``), for error locations; default ``--set OVERRIDE``.
    """
    origin = origin or f"--set {override}"
    mark = Mark(0, 0, origin)

    def fail(message: str) -> ConfigError:
        return ConfigError([Diagnostic(origin, 0, 0, message)])

    if "=" not in override:
        raise fail("expected KEY.PATH=VALUE, e.g. training.optimizer.lr=0.01 or model.layers.0.output_dim=64")
    key_path, _, text = override.partition("=")
    try:
        value = yaml.load(text, Loader=MarkedLoader) if text.strip() else None
    except yaml.YAMLError as exc:
        raise fail(f"invalid value ({str(exc).splitlines()[0]})") from None
    _relocate(value, mark)
    parts = key_path.strip().split(".")
    node = raw
    for i, part in enumerate(parts):
        last = i == len(parts) - 1
        if isinstance(node, list):
            if not part.isdigit() or int(part) >= len(node):
                raise fail(f"`{part}` is not an index of `{'.'.join(parts[:i])}`, a list of {len(node)} "
                           f"(valid: 0..{len(node) - 1})")
            index = int(part)
            if last:
                node[index] = value
            elif node[index] is None:
                node[index] = _new_mapping(mark)
            _set_mark(node, index, mark)
            node = node[index]
        elif isinstance(node, dict):
            if last:
                node[part] = value
            elif node.get(part) is None:
                node[part] = _new_mapping(mark, {"name": "rmsprop"} if part == "optimizer" else {})
                _set_mark(node, part, mark)  # a key the file lacks (or a typo) is reported at the argument
            elif part == "optimizer" and isinstance(node[part], str):
                node[part] = _new_mapping(mark, {"name": node[part]})  # `optimizer: adam` + --set optimizer.lr=...
            if last or not isinstance(node[part], (dict, list)):
                _set_mark(node, part, mark)
            node = node[part]
        else:
            raise fail(f"`{'.'.join(parts[:i])}` is not a mapping or a list, so it has no `{part}`")


def _new_mapping(mark: Mark, items: dict | None = None) -> MarkedDict:
    result = MarkedDict(items or {})
    _relocate(result, mark)
    return result


def _set_mark(container: Any, key: Any, mark: Mark) -> None:
    if isinstance(container, (MarkedDict, MarkedList)):
        vars(container).setdefault("marks", {})[key] = mark
        if isinstance(container, MarkedDict):
            vars(container).setdefault("key_marks", {})[key] = mark


def _relocate(value: Any, mark: Mark) -> None:
    """Point every position inside a value parsed from the command line at that command-line argument."""
    if isinstance(value, (MarkedDict, MarkedList)):
        value.mark = mark
        keys = list(value) if isinstance(value, MarkedDict) else range(len(value))
        value.marks = {k: mark for k in keys}
        if isinstance(value, MarkedDict):
            value.key_marks = {k: mark for k in keys}
        for k in keys:
            _relocate(value[k], mark)


def absolute_path_override(override: str, cwd: Path | None = None) -> str:
    """``data.train=d/x.npz`` -> ``data.train=/abs/d/x.npz``: on the command line a file path means one relative
    to the current directory (the config's own paths stay relative to the config)."""
    key_path, sep, text = override.partition("=")
    value = text.strip()
    if not sep or key_path.strip().split(".")[-1] not in PATH_KEYS or not value or value[0] in "[{'\"&*!|>":
        return override
    if value in ("null", "~", "Null", "NULL") or Path(value).is_absolute():
        return override
    return f"{key_path}={(cwd or Path.cwd()) / value}"


def effective_document(path: str | Path, overrides: list[str] | None = None) -> dict:
    """The config as trained: overrides applied, relative file paths made absolute (against the config's folder)."""
    path = Path(path)
    raw = load_yaml(path)
    for override in overrides or []:
        apply_override(raw, override, str(path))
    return _absolute_paths(_plain(raw), path.resolve().parent)


def effective_config_text(path: str | Path, overrides: list[str] | None = None) -> str:
    """YAML text of ``effective_document`` with a header saying where it came from."""
    document = effective_document(path, overrides)
    lines = [f"# rnncli run config: {path}"]
    lines += [f"#   with --set {o}" for o in overrides or []]
    lines.append("# (file paths made absolute; `rnncli train` on this file alone reproduces the run)")
    return "\n".join(lines) + "\n" + yaml.safe_dump(document, sort_keys=False, allow_unicode=True)


def _plain(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_plain(v) for v in value]
    return value


def _absolute_paths(document: Any, base: Path) -> Any:
    """Make ``data`` file paths and every layer's ``weights`` path absolute."""
    if not isinstance(document, dict):
        return document
    data = document.get("data")
    if isinstance(data, dict):
        for key in PATH_KEYS & set(data):
            data[key] = _absolute(data[key], base)

    def walk(node: Any) -> None:
        if isinstance(node, dict):
            if isinstance(node.get("weights"), str):
                node["weights"] = _absolute(node["weights"], base)
            for value in node.values():
                walk(value)
        elif isinstance(node, list):
            for value in node:
                walk(value)

    walk(document.get("model"))
    return document


def _absolute(value: Any, base: Path) -> Any:
    if not isinstance(value, str) or not value or Path(value).is_absolute():
        return value
    return str((base / value).resolve())
