"""Process-wide TensorFlow settings that must be in the environment before TensorFlow allocates anything.

``apply()`` sets each one only where the user has not: exporting a variable (for example
``TF_CPU_ALLOCATOR_USE_BFC=false``) overrides rnncli's choice.

* ``TF_CPU_ALLOCATOR_USE_BFC=true``: TensorFlow's best-fit-with-coalescing pool for host memory instead of
  malloc. An XLA-compiled training step allocates tens to hundreds of MB of temporaries per call; from malloc
  they arrive as fresh pages whose first touch faults on every step (the XLA profile of a medium LSTM step showed
  one buffer fill taking 12 ms). With the pool, the medium LSTM training step measured 1.24-1.38x faster
  (benchmarks/README.md). The pool keeps its high-water mark; its limit is ``TF_CPU_BFC_MEM_LIMIT_IN_MB``.
* ``TF_CPP_MIN_LOG_LEVEL=2``: no C++ start-up chatter; ``KERAS_BACKEND=tensorflow`` for the Keras 3 tools.

``skip_keras()`` is for rnncli's own processes only (``workflows.prepare_tensorflow``), never for a process that uses
Keras: see its docstring.
"""

from __future__ import annotations

import os
import sys
from contextlib import contextmanager
from typing import Iterator

DEFAULTS: dict[str, str] = {
    "TF_CPU_ALLOCATOR_USE_BFC": "true",
    "TF_CPP_MIN_LOG_LEVEL": "2",
    "KERAS_BACKEND": "tensorflow",
}


def apply(environ: dict | None = None) -> None:
    """Set every default the environment does not set already (call before importing TensorFlow)."""
    environ = os.environ if environ is None else environ
    for name, value in DEFAULTS.items():
        environ.setdefault(name, value)


@contextmanager
def skip_keras(environ: dict | None = None, modules: dict | None = None) -> Iterator[None]:
    """While active, keep ``import tensorflow`` from importing all of Keras (rnncli never uses ``tf.keras``).

    TensorFlow 2.21's ``__init__`` eagerly imports ``keras.src.optimizers`` (``tf_keras.src.optimizers`` under
    ``TF_USE_LEGACY_KERAS=1``) inside a ``try/except ImportError``; that imports the whole of Keras and, through
    it, scikit-learn, pandas and matplotlib when they are installed: 979 modules and about 40% of the import's CPU
    time on this project's machine (user 8.5-9.4 s -> 4.9-6.0 s). Here ``keras`` and ``tf_keras`` are marked
    unimportable in ``sys.modules`` for the duration of the import, so that eager import fails fast and is skipped;
    the marks are removed afterwards, so a later ``import keras`` works as usual. Nothing is done when the user set
    ``TF_USE_LEGACY_KERAS`` (a choice of Keras flavour) or when TensorFlow or Keras is already imported.
    ``environ`` and ``modules`` default to ``os.environ`` and ``sys.modules`` (tests pass their own).
    """
    environ = os.environ if environ is None else environ
    modules = sys.modules if modules is None else modules
    blocked = [] if "TF_USE_LEGACY_KERAS" in environ or "tensorflow" in modules else [
        name for name in ("keras", "tf_keras") if name not in modules]
    if len(blocked) < 2:  # one of them already imported: leave both alone
        blocked = []
    for name in blocked:
        modules[name] = None  # `import keras` raises ImportError while this is set
    try:
        yield
    finally:
        for name in blocked:
            if name in modules and modules[name] is None:
                del modules[name]
