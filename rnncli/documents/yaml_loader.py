"""Safe YAML loading that remembers where every key and value came from.

``load_yaml`` returns plain ``dict``/``list`` subclasses (``MarkedDict``/``MarkedList``) whose ``marks`` map each key
(or index) to the (line, column) of its value, so the validator can point at the offending text. It only ever uses
``yaml.SafeLoader`` machinery, and additionally:

* rejects duplicate keys (PyYAML silently keeps the last one);
* reads ``1e-3`` as a float (YAML 1.1 reads it as a string);
* accepts Keras 1's ``!!python/tuple`` tag (as a list) and Python 2's ``!!python/unicode``, ``!!python/str`` and
  ``!!python/long`` (plain values), and nothing else from the ``python/`` namespace;
* refuses documents whose alias expansion would be huge ("billion laughs") or that nest too deeply, before
  constructing anything.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml
from yaml.nodes import MappingNode, Node, SequenceNode

from rnncli.errors import ConfigError, Diagnostic

MAX_EXPANDED_NODES = 200_000
MAX_DEPTH = 64
MAX_FILE_BYTES = 20 * 1024 * 1024


@dataclass(frozen=True)
class Mark:
    """A 1-based position in a file; ``origin`` names another source (``--set a.b=c``) for values given on the
    command line, whose errors are located there instead of in the file."""

    line: int
    column: int
    origin: str | None = None


class MarkedDict(dict):
    """A mapping that knows the position of itself (``mark``) and of each value (``marks[key]``)."""

    mark: Mark = Mark(0, 0)
    marks: dict

    def where(self, key: Any) -> Mark:
        return getattr(self, "marks", {}).get(key, self.mark)

    def where_key(self, key: Any) -> Mark:
        """Position of the key itself (for unknown-key errors)."""
        return getattr(self, "key_marks", {}).get(key, self.where(key))


class MarkedList(list):
    """A sequence that knows the position of itself and of each item."""

    mark: Mark = Mark(0, 0)
    marks: dict

    def where(self, index: int) -> Mark:
        return getattr(self, "marks", {}).get(index, self.mark)


def _mark(node: Node) -> Mark:
    return Mark(node.start_mark.line + 1, node.start_mark.column + 1)


class MarkedLoader(getattr(yaml, "CSafeLoader", yaml.SafeLoader)):  # libyaml when available: linear and fast
    """``SafeLoader`` that records marks and rejects duplicate keys."""

    def construct_marked_mapping(self, node: MappingNode, deep: bool = False) -> MarkedDict:
        self.flatten_mapping(node)
        result = MarkedDict()
        result.mark = _mark(node)
        result.marks = {}
        result.key_marks = {}
        for key_node, value_node in node.value:
            key = self.construct_object(key_node, deep=True)
            try:
                hash(key)
            except TypeError:
                raise yaml.constructor.ConstructorError(
                    None, None, "a mapping key must be a plain value, not a list or mapping", key_node.start_mark
                ) from None
            if key in result:
                raise yaml.constructor.ConstructorError(
                    None, None, f"duplicate key {key!r} (it was already set above)", key_node.start_mark
                )
            result[key] = self.construct_object(value_node, deep=True)
            result.marks[key] = _mark(value_node)
            result.key_marks[key] = _mark(key_node)
        return result

    def construct_marked_sequence(self, node: SequenceNode, deep: bool = False) -> MarkedList:
        result = MarkedList(self.construct_object(child, deep=True) for child in node.value)
        result.mark = _mark(node)
        result.marks = {i: _mark(child) for i, child in enumerate(node.value)}
        return result


MarkedLoader.add_constructor("tag:yaml.org,2002:map", MarkedLoader.construct_marked_mapping)
MarkedLoader.add_constructor("tag:yaml.org,2002:seq", MarkedLoader.construct_marked_sequence)
MarkedLoader.add_constructor("tag:yaml.org,2002:python/tuple", MarkedLoader.construct_marked_sequence)
# Python 2 `to_yaml()` tags on strings and integers, read as the plain values they are
for _tag in ("python/unicode", "python/str"):
    MarkedLoader.add_constructor(f"tag:yaml.org,2002:{_tag}", yaml.SafeLoader.construct_yaml_str)
MarkedLoader.add_constructor("tag:yaml.org,2002:python/long", yaml.SafeLoader.construct_yaml_int)
MarkedLoader.add_implicit_resolver(
    "tag:yaml.org,2002:float",
    re.compile(r"^[-+]?(?:[0-9][0-9_]*)(?:\.[0-9_]*)?[eE][-+]?[0-9]+$"),
    list("-+0123456789"),
)


def _check_size(root: Node) -> None:
    """Refuse alias bombs and absurd nesting by measuring the expanded tree on the node graph (memoised)."""
    sizes: dict[int, int] = {}

    def size(node: Node, depth: int) -> int:
        if depth > MAX_DEPTH:
            raise _TooBig(f"the document nests deeper than {MAX_DEPTH} levels", node)
        known = sizes.get(id(node))
        if known is not None:
            return known
        total = 1
        if isinstance(node, SequenceNode):
            for child in node.value:
                total += size(child, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        elif isinstance(node, MappingNode):
            for key_node, value_node in node.value:
                total += size(key_node, depth + 1) + size(value_node, depth + 1)
                if total > MAX_EXPANDED_NODES:
                    break
        if total > MAX_EXPANDED_NODES:
            raise _TooBig(
                f"the document expands to more than {MAX_EXPANDED_NODES} values (an alias bomb?); refusing to load it",
                node,
            )
        sizes[id(node)] = total
        return total

    size(root, 0)


class _TooBig(Exception):
    def __init__(self, message: str, node: Node):
        super().__init__(message)
        self.node = node


def _flow_depth_problem(text: str, name: str) -> Diagnostic | None:
    """PyYAML's scanner is quadratic in flow nesting (``[[[[...``); refuse absurd depth before scanning."""
    if text.count("[") + text.count("{") <= MAX_DEPTH:
        return None
    depth = 0
    for match in re.finditer(r"[\[\]{}]", text):
        if match.group() in "[{":
            depth += 1
            if depth > MAX_DEPTH:
                line = text.count("\n", 0, match.start()) + 1
                column = match.start() - (text.rfind("\n", 0, match.start()) + 1) + 1
                return Diagnostic(name, line, column, f"the document nests deeper than {MAX_DEPTH} levels")
        else:
            depth = max(0, depth - 1)
    return None


def load_yaml(path: str | Path) -> Any:
    """Load one YAML document safely with marks; raise ``ConfigError`` with a located one-line message on failure."""
    name = str(path)
    file = Path(path)
    if not file.exists():
        raise ConfigError([Diagnostic(name, 0, 0, "file not found")])
    if file.is_dir():
        raise ConfigError([Diagnostic(name, 0, 0, "is a directory, expected a YAML file")])
    if file.stat().st_size > MAX_FILE_BYTES:
        raise ConfigError([Diagnostic(name, 0, 0, f"file is larger than {MAX_FILE_BYTES // 2**20} MiB")])
    from rnncli.documents.file_kinds import describe_zip, is_zip

    if is_zip(file):
        raise ConfigError([Diagnostic(name, 0, 0, f"this is {describe_zip(file)}")])
    try:
        text = file.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise ConfigError([Diagnostic(name, 0, 0, f"not UTF-8 text ({exc.reason} at byte {exc.start})")]) from None
    except OSError as exc:
        raise ConfigError([Diagnostic(name, 0, 0, f"cannot read: {exc.strerror}")]) from None
    return loads_yaml(text, name)


def _double_encoded(document: Any) -> bool:
    """A top-level string that is itself a Keras model document (``class_name:`` at the start of a line)."""
    if not isinstance(document, str) or "\n" not in document.strip():
        return False
    return any(line.startswith(("class_name:", '{"class_name"', "{'class_name'")) for line in document.splitlines())


def loads_yaml(text: str, name: str = "<string>") -> Any:
    """Like ``load_yaml`` for text already in memory."""
    if not text.strip() or all(not ln.strip() or ln.lstrip().startswith("#") for ln in text.splitlines()):
        raise ConfigError([Diagnostic(name, 0, 0, "the file is empty; expected a mapping with a `model:` section")])
    too_deep = _flow_depth_problem(text, name)
    if too_deep is not None:
        raise ConfigError([too_deep])
    old_limit = sys.getrecursionlimit()
    sys.setrecursionlimit(max(old_limit, 10_000))
    loader = None
    try:
        loader = MarkedLoader(text)
        node = loader.get_single_node()
        if node is None:
            raise ConfigError([Diagnostic(name, 0, 0, "the file is empty; expected a mapping with a `model:` section")])
        _check_size(node)
        document = loader.construct_document(node)
        if _double_encoded(document):
            # `yaml.dump(model.to_yaml())`: the document is one YAML string holding the Keras document; positions in
            # messages then count lines inside that string
            return loads_yaml(document, f"{name} (the YAML text inside its top-level string)")
        return document
    except _TooBig as exc:
        mark = _mark(exc.node)
        raise ConfigError([Diagnostic(name, mark.line, mark.column, str(exc))]) from None
    except yaml.MarkedYAMLError as exc:
        from rnncli.documents.file_kinds import json_syntax_problem, looks_like_json

        as_json = json_syntax_problem(text, name) if looks_like_json(text, name) else None
        if as_json is not None:  # a cut-off to_json() file: JSON's own position and words
            raise ConfigError([as_json]) from None
        problem_mark = exc.problem_mark or exc.context_mark
        line = problem_mark.line + 1 if problem_mark else 0
        col = problem_mark.column + 1 if problem_mark else 0
        message = exc.problem or exc.context or "invalid YAML"
        if "could not determine a constructor" in message:
            message = message.replace("could not determine a constructor for the tag", "unsupported YAML tag")
            message += " (only plain YAML and !!python/tuple are accepted)"
        raise ConfigError([Diagnostic(name, line, col, f"YAML syntax error: {message}")]) from None
    except yaml.reader.ReaderError as exc:
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - (text.rfind("\n", 0, exc.position) + 1) + 1
        raise ConfigError([Diagnostic(name, line, column, f"character {exc.character!r} is not allowed in YAML "
                                      f"(control characters must be quoted or removed)")]) from None
    except yaml.YAMLError as exc:
        raise ConfigError([Diagnostic(name, 0, 0, f"YAML error: {exc}")]) from None
    except RecursionError:
        raise ConfigError([Diagnostic(name, 0, 0, "the document nests too deeply to load")]) from None
    except ValueError as exc:  # e.g. a timestamp or number PyYAML cannot convert
        raise ConfigError([Diagnostic(name, 0, 0, f"invalid value: {exc}")]) from None
    finally:
        sys.setrecursionlimit(old_limit)
        if loader is not None:
            loader.dispose()
