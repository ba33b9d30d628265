"""Numbered run directories: ``runs/NAME/version_0``, ``version_1``, ... (as PyTorch Lightning numbers its logs),
for ``rnncli train`` without ``-o``; every training starts a new one and ``--resume`` continues the newest.

>>> import tempfile
>>> root = Path(tempfile.mkdtemp())
>>> new_version(root).name, new_version(root).name, latest_version(root).name
('version_0', 'version_1', 'version_1')
"""

from __future__ import annotations

import re
from pathlib import Path

from rnncli.errors import UserInputError
from rnncli.runs.faults import storage_error

PATTERN = re.compile(r"version_(\d+)")


def versions(root: Path) -> list[int]:
    """The version numbers under ``root``, ascending."""
    if not root.is_dir():
        return []
    return sorted(int(m.group(1)) for p in root.iterdir() if p.is_dir() and (m := PATTERN.fullmatch(p.name)))


def new_version(root: Path) -> Path:
    """Create and return the next ``root/version_N`` (one past the highest; creating it reserves the number, so two
    trainings started at once get different ones)."""
    try:
        root.mkdir(parents=True, exist_ok=True)
        number = (versions(root) or [-1])[-1] + 1
        while True:
            path = root / f"version_{number}"
            try:
                path.mkdir()
                return path
            except FileExistsError:
                number += 1
    except OSError as exc:  # an unwritable (mounted) work folder: one line with the path and the reason
        storage = storage_error(exc)
        if storage is None:
            raise
        raise storage from None


def latest_version(root: Path) -> Path:
    """The newest ``root/version_N``; a clear error when there is none."""
    numbers = versions(root)
    if not numbers:
        raise UserInputError(f"{root}: no run to resume (no version_N folder); train without --resume first, or "
                             f"pass the run directory with -o")
    return root / f"version_{numbers[-1]}"


def release_if_empty(path: Path) -> None:
    """Give back a reserved version folder that a failed start left empty."""
    try:
        path.rmdir()
    except OSError:
        pass  # not empty: the run wrote something worth keeping
