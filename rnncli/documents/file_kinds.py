"""What a file is, from its first bytes, for messages that say so: an empty file, a zip archive (a Keras 3
``.keras`` model), a JSON document with a syntax error. Pure Python: no TensorFlow, no h5py."""

from __future__ import annotations

import json
import zipfile
from pathlib import Path

from rnncli.errors import Diagnostic

ZIP_SIGNATURE = b"PK\x03\x04"
KERAS_MODELS = ".h5 from model.save(), to_json(), to_yaml()"


def is_zip(path: str | Path) -> bool:
    """True when the file starts with a zip local-file header (``.keras`` archives, ``.npz`` files)."""
    try:
        with open(path, "rb") as handle:
            return handle.read(4) == ZIP_SIGNATURE
    except OSError:
        return False


def describe_zip(path: str | Path) -> str:
    """One line saying what a zip archive is: a Keras 3 ``.keras`` model when it holds ``config.json`` and
    ``model.weights.h5`` (Keras 3's ``model.save()``), else a zip archive and its first members."""
    try:
        with zipfile.ZipFile(path) as archive:
            names = archive.namelist()
    except (zipfile.BadZipFile, OSError) as exc:
        return f"a damaged zip archive ({exc})"
    if "config.json" in names and any(n.endswith(".weights.h5") or n == "model.weights.h5" for n in names):
        return ("a Keras 3 `.keras` archive (a zip of config.json, metadata.json and model.weights.h5, written by "
                "Keras 3's model.save()), not an rnncli config or a weights file: `rnncli import` reads it into a "
                "run directory")
    shown = ", ".join(names[:4]) + (", ..." if len(names) > 4 else "")
    return f"a zip archive ({shown}), not a YAML/JSON document"


def empty_or_foreign(path: str | Path, expected: str = KERAS_MODELS) -> Diagnostic | None:
    """The problem of a file that cannot be a Keras model document or config at all: empty (or only whitespace),
    or a zip archive. ``expected`` names what was expected, for the message. None when neither."""
    name = str(path)
    try:
        with open(path, "rb") as handle:
            head = handle.read(4096)
    except OSError:
        return None  # the reader reports missing and unreadable files
    if not head.strip():
        return Diagnostic(name, 0, 0, f"empty file: not a Keras model ({expected})")
    if head.startswith(ZIP_SIGNATURE):
        return Diagnostic(name, 0, 0, f"this is {describe_zip(path)}")
    return None


def looks_like_json(text: str, name: str) -> bool:
    """A ``.json`` file, or text that opens a JSON object (``{"``): read as JSON, so errors use JSON's terms."""
    start = text.lstrip()[:2]
    return name.lower().endswith(".json") or start.startswith('{"') or start == "[{"


def json_syntax_problem(text: str, name: str) -> Diagnostic | None:
    """``FILE:LINE:COL: JSON syntax error: ...`` when ``text`` is not valid JSON, else None."""
    try:
        json.loads(text)
    except json.JSONDecodeError as exc:
        message = exc.msg.removesuffix(" starting at")  # json words it for a position appended after it
        cut = exc.pos >= len(text.rstrip()) or exc.msg.startswith("Unterminated string")
        return Diagnostic(name, exc.lineno, exc.colno, f"JSON syntax error at {exc.lineno}:{exc.colno}: {message}"
                          + (" (the file ends early: is it cut off?)" if cut else ""))
    except RecursionError:
        return None
    return None
