"""Where a run came from: versions, platform, device, seed, command line and the config's git commit."""

from __future__ import annotations

import datetime as _dt
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from rnncli import __version__


def now() -> str:
    """The current UTC time, ISO 8601 to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def git_commit(directory: Path) -> str | None:
    """HEAD of the git repository holding ``directory``, or None."""
    try:
        out = subprocess.run(["git", "-C", str(directory), "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5)
    except (OSError, subprocess.SubprocessError):
        return None
    return out.stdout.strip() if out.returncode == 0 else None


def provenance(config: Any, config_path: Path, device: str, device_text: str, argv: list[str] | None,
               jit_compile: bool) -> dict:
    """The ``run.json`` fields that say how a run was produced (needs TensorFlow imported)."""
    import numpy as np
    import tensorflow as tf

    return {
        "rnncli": __version__,
        "tensorflow": tf.__version__,
        "python": platform.python_version(),
        "numpy": np.__version__,
        "platform": platform.platform(),
        "device": device,
        "device_description": device_text,
        "seed": config.seed,
        "command": argv if argv is not None else sys.argv,
        "config": str(config_path.resolve()),
        "config_git_commit": git_commit(config_path.resolve().parent),
        "jit_compile": jit_compile,
        "stateful": config.model.stateful,
    }
