"""Process-wide TensorFlow settings that must be in the environment before TensorFlow allocates anything.

``apply()`` sets each one only where the user has not: exporting a variable (for example
``TF_CPU_ALLOCATOR_USE_BFC=false``) overrides rnncli's choice.

* ``TF_CPU_ALLOCATOR_USE_BFC=true``: TensorFlow's best-fit-with-coalescing pool for host memory instead of
  malloc. An XLA-compiled training step allocates tens to hundreds of MB of temporaries per call; from malloc
  they arrive as fresh pages whose first touch faults on every step (the XLA profile of a medium LSTM step showed
  one buffer fill taking 12 ms). With the pool, the medium LSTM training step measured 1.24-1.38x faster
  (benchmarks/README.md). The pool keeps its high-water mark; its limit is ``TF_CPU_BFC_MEM_LIMIT_IN_MB``.
* ``TF_CPP_MIN_LOG_LEVEL=2``: no C++ start-up chatter; ``KERAS_BACKEND=tensorflow`` for the Keras 3 tools.
"""

from __future__ import annotations

import os

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
