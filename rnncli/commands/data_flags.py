"""``rnncli train --train/--y/--validation/--validation-y``: shorthands for the config's ``data:`` section.

Each flag becomes a ``--set`` override (so it is validated like the file's keys and recorded in the run's
resolved config and ``run.json``). Paths are made absolute (the config's own paths are relative to the config
file, these to the current folder). Giving ``--train`` replaces the config's training data and its targets, and
``--validation`` its validation data (and drops a ``validation_split``).

>>> data_overrides(Path("/d/x.npy"), Path("/d/y.npy"), None, None)[0]
['data.train="/d/x.npy"', 'data.y_train="/d/y.npy"']
"""

from __future__ import annotations

import json
from pathlib import Path


def data_overrides(train: Path | None, y: Path | None, validation: Path | None,
                   validation_y: Path | None) -> tuple[list[str], list[str]]:
    """(``--set`` overrides, the flags as given for a resume hint)."""
    from rnncli.errors import UserInputError

    if y is not None and train is None:
        raise UserInputError("--y gives the targets of --train: pass --train x.npy too")
    if validation_y is not None and validation is None:
        raise UserInputError("--validation-y gives the targets of --validation: pass --validation x.npy too")
    sets: list[str] = []
    flags: list[str] = []
    for flag, path, key, targets_flag, targets, targets_key in (
            ("--train", train, "data.train", "--y", y, "data.y_train"),
            ("--validation", validation, "data.validation", "--validation-y", validation_y, "data.y_validation")):
        if path is None:
            continue
        sets.append(f"{key}={json.dumps(str(path.resolve()))}")
        sets.append(f"{targets_key}={json.dumps(str(targets.resolve())) if targets is not None else 'null'}")
        flags += [flag, str(path)] + ([targets_flag, str(targets)] if targets is not None else [])
        if flag == "--validation":
            sets.append("data.validation_split=0.0")
    return sets, flags
