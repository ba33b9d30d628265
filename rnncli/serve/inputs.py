"""Request bodies to checked numpy arrays; every problem is a ``BadRequest`` with its 4xx status and one line.

A body is ``{"inputs": ...}`` and nothing else: nested JSON lists of numbers (not booleans, strings or nulls), of
the model's input shape without the batch axis (``[T][D]`` for one stream's chunk, ``[N][T][D]`` for a stateless
batch), finite, and integers in the vocabulary for models that start with an ``Embedding``. A graph model's body
names its inputs, ``{"inputs": {"history": ..., "static": ...}}``, each checked the same way against its own shape
(``read_named_inputs``); every message names the input (``inputs.static``).
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from typing import Any

import numpy as np
import orjson

FLOAT32_MAX = float(np.finfo(np.float32).max)
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,127}")


class BadRequest(Exception):
    """A client error: ``status`` (400, 401, 404, 409, 413, 415, 422, 429, ...) and a one-line message; ``step``:
    the stream's actual step counter, for a 409 on ``expect_step`` (sent as ``"step"`` and ``X-Stream-Step``)."""

    def __init__(self, status: int, message: str, step: int | None = None):
        super().__init__(message)
        self.status = status
        self.message = message
        self.step = step


def stream_conflict(stream_id: str, actual: int, expected: int) -> BadRequest:
    """The 409 of a chunk whose ``expect_step`` differs from the stream's counter: nothing was applied."""
    return BadRequest(409, f"stream `{stream_id}` is at step {actual}, not {expected} (restored from an older save, "
                           f"evicted, deleted or never seen): nothing was applied; replay from step {actual}", actual)


def read_expect_step(document: Any, header: bytes | None) -> int | None:
    """The ``expect_step`` of a chunk: the body's field, else the ``If-Match`` header (``5`` or ``"5"``)."""
    value: Any = document.get("expect_step") if isinstance(document, dict) else None
    source = "`expect_step`"
    if value is None and header is not None:
        text = header.decode("latin-1").strip()
        if text.startswith("W/"):
            text = text[2:]
        text = text.strip('"')
        source = "If-Match"
        if not text.isdigit():
            raise BadRequest(422, f"If-Match must be the stream step the chunk continues (an integer >= 0), "
                                  f"got {header.decode('latin-1')[:40]!r}")
        value = int(text)
    if value is None:
        return None
    if type(value) is not int or value < 0:
        raise BadRequest(422, f"{source} must be an integer >= 0 (the stream step the chunk continues)")
    return value


def check_stream_id(stream_id: str) -> str:
    if not STREAM_ID.fullmatch(stream_id):
        raise BadRequest(422, "stream ids are 1-128 characters of letters, digits and . _ : - (starting with a "
                              "letter or digit)")
    return stream_id


def _refuse_constant(name: str) -> float:
    raise BadRequest(422, f"`inputs` holds {name}; only finite numbers are accepted")


def parse_json(body: bytes) -> Any:
    """Parse a JSON body with orjson; a body orjson refuses is parsed again by the json module for the exact
    answer: malformed JSON, non-UTF-8 text and nesting deeper than Python's recursion limit are 400s (the C parser
    counts its depth against that limit, so deep nesting raises instead of overflowing the stack); NaN, Infinity
    and numbers beyond float64 are 422s."""
    if not body:
        raise BadRequest(400, "empty body: send JSON such as {\"inputs\": [[0.5]]}")
    try:
        return orjson.loads(body)
    except orjson.JSONDecodeError:
        pass
    try:
        document = json.loads(body.decode("utf-8-sig"), parse_constant=_refuse_constant)
    except RecursionError:
        raise BadRequest(400, "the JSON is nested too deeply") from None
    except UnicodeDecodeError:
        raise BadRequest(400, "the body is not UTF-8 text") from None
    except ValueError as exc:
        raise BadRequest(400, f"malformed JSON: {str(exc).splitlines()[0]}") from None
    return document  # valid JSON orjson refused: a UTF-8 BOM, nesting past 1024, an integer past 64 bits, 1e400


def _describe(shape: list[int | None]) -> str:
    return "[" + "][".join("T" if dim is None else str(dim) for dim in shape) + "]"


def _check_fields(document: Any, optional: frozenset[str]) -> None:
    if not isinstance(document, dict):
        raise BadRequest(422, "the body must be a JSON object {\"inputs\": ...}")
    unknown = sorted(set(document) - {"inputs"} - optional)
    if unknown:
        allowed = "".join(f", \"{name}\": ..." for name in sorted(optional))
        raise BadRequest(422, f"unknown field(s) {', '.join(map(repr, unknown))}; the body is "
                              f"{{\"inputs\": ...{allowed}}}")
    if "inputs" not in document:
        raise BadRequest(422, "missing field `inputs`")


def read_inputs(document: Any, sample_shape: list[int | None], integer_vocab: int | None, batched: bool,
                max_values: int, optional: frozenset[str] = frozenset()) -> np.ndarray:
    """``document["inputs"]`` as an array of ``sample_shape`` (with a leading N when ``batched``); ``optional``:
    other fields the body may have (``expect_step`` for a stream chunk).

    ``sample_shape``: the model's input shape without the batch axis, ``None`` for a free length.
    ``integer_vocab``: the Embedding's ``input_dim`` for index inputs (int32), else None (float32).
    """
    _check_fields(document, optional)
    return read_array(document["inputs"], "`inputs`", sample_shape, integer_vocab, batched, max_values)


@dataclass(frozen=True)
class NamedInput:
    """One input of a graph model: its name, shape without the batch axis (``None``: any length) and, for index
    inputs, the vocabulary size of the Embedding that reads it (else None: float32)."""

    name: str
    shape: list[int | None]
    integer_vocab: int | None = None
    dtype: str = "float32"


def read_named_inputs(document: Any, specs: list[NamedInput], batched: bool, max_values: int,
                      optional: frozenset[str] = frozenset()) -> dict[str, np.ndarray]:
    """``document["inputs"]`` of a graph model: ``{"name": array, ...}`` with exactly the model's inputs, each
    checked as ``read_inputs`` checks one array (``[N]`` + its shape when ``batched``, the same N for all)."""
    _check_fields(document, optional)
    value = document["inputs"]
    wanted = ", ".join(f"\"{spec.name}\": {'[N]' if batched else ''}{_describe(spec.shape)}" for spec in specs)
    if not isinstance(value, dict):
        raise BadRequest(422, f"`inputs` must be an object with one array per model input: {{{wanted}}}")
    names = [spec.name for spec in specs]
    unknown = [name for name in value if name not in names]
    missing = [name for name in names if name not in value]
    if unknown or missing:
        parts = ([f"unknown input(s) {', '.join(f'`{n}`' for n in unknown)[:200]}"] if unknown else []) + \
                ([f"missing input(s) {', '.join(f'`{n}`' for n in missing)}"] if missing else [])
        raise BadRequest(422, f"`inputs`: {'; '.join(parts)}; the model takes {{{wanted}}}")
    arrays: dict[str, np.ndarray] = {}
    budget = max_values
    for spec in specs:
        array = read_array(value[spec.name], f"`inputs.{spec.name}`", spec.shape, spec.integer_vocab, batched,
                           budget)
        if spec.integer_vocab is None and spec.dtype == "int32":
            array = array.astype(np.int32)
        budget = max(budget - array.size, 1)
        arrays[spec.name] = array
    if batched:
        counts = {name: len(array) for name, array in arrays.items()}
        if len(set(counts.values())) > 1:
            shown = ", ".join(f"{name}: {count}" for name, count in counts.items())
            raise BadRequest(422, f"`inputs` must hold the same number of samples N for every input ({shown})")
    return arrays


def read_array(value: Any, label: str, sample_shape: list[int | None], integer_vocab: int | None, batched: bool,
               max_values: int) -> np.ndarray:
    """One input array (``label`` names it in the messages) of ``sample_shape``, with a leading N when
    ``batched``."""
    expected = ([None] if batched else []) + list(sample_shape)
    what = f"{'[N]' if batched else ''}{_describe(list(sample_shape))}"
    leaves = _leaves(value, len(expected), what, max_values, label)
    kinds = set(map(type, leaves))
    if list in kinds:
        raise BadRequest(422, f"{label} must be a {len(expected)}-D array {what}, found deeper nesting")
    if not kinds <= {int, float}:
        bad = next(item for item in leaves if type(item) not in (int, float))
        raise BadRequest(422, f"{label} must hold numbers only, found {json.dumps(bad)[:40]}")
    try:
        array = np.array(value, dtype=np.float64)
    except (ValueError, OverflowError):
        raise BadRequest(422, f"{label} is ragged: every row must have the same length ({what})") from None
    if array.ndim != len(expected):
        raise BadRequest(422, f"{label} is ragged: every row must have the same length ({what})")
    for axis, (want, got) in enumerate(zip(expected, array.shape)):
        if got == 0:
            raise BadRequest(422, f"{label} has an empty axis {axis}; expected {what}")
        if want is not None and want != got:
            raise BadRequest(422, f"{label} has shape {list(array.shape)}, expected {what}")
    if not np.isfinite(array).all():
        raise BadRequest(422, f"{label} holds a number that is not finite")
    if integer_vocab is not None:
        if not np.all(np.equal(np.mod(array, 1), 0)) or array.min() < 0 or array.max() >= integer_vocab:
            raise BadRequest(422, f"{label} must be integer indices in 0..{integer_vocab - 1} for the Embedding")
        return array.astype(np.int32)
    if np.abs(array).max() > FLOAT32_MAX:
        raise BadRequest(422, f"{label} holds a number too large for float32")
    return array.astype(np.float32)


def _leaves(value: Any, rank: int, what: str, max_values: int, label: str = "`inputs`") -> list:
    """The items ``rank`` lists deep (scalars unless nested deeper), or a 422 naming the expected shape."""
    level = [value]
    for _ in range(rank):
        flattened: list = []
        for item in level:
            if not isinstance(item, list):
                raise BadRequest(422, f"{label} must be a {rank}-D array {what}")
            flattened.extend(item)
        if not flattened:
            raise BadRequest(422, f"{label} is empty; expected {what}")
        if len(flattened) > max_values:
            raise BadRequest(413, f"{label} holds more than {max_values} values")
        level = flattened
    return level
