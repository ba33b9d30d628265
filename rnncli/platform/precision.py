"""``training.precision`` / ``--precision``: float32, or mixed_bfloat16 on a CPU that computes bfloat16 natively.

``mixed_bfloat16`` is Keras' policy of that name: matmuls and activations in bfloat16, while variables, optimizer
slots, states carried between batches or streams, losses and metrics stay float32. bfloat16 has float32's exponent
range, so no loss scaling is needed. Checkpoints hold only float32 variables, so a run trained in one precision can
be resumed, evaluated or served in the other.

bfloat16 only pays on a CPU with native bfloat16 instructions (AVX512_BF16 or AMX); elsewhere TensorFlow emulates
it, slower than float32, so ``mixed_bfloat16`` is refused there with that reason. Detection reads the CPU flags of
``/proc/cpuinfo``; ``RNNCLI_NATIVE_BF16=0|1`` overrides it (for tests, and CPUs the flags misdescribe).

Nothing here imports TensorFlow, even indirectly (``summary`` uses this module, and must start without it).

    >>> parse_precision(" mixed_bfloat16 ")
    'mixed_bfloat16'
    >>> compute_dtype_name("mixed_bfloat16"), compute_dtype_name("float32")
    ('bfloat16', 'float32')
"""

from __future__ import annotations

import os
from dataclasses import dataclass

from rnncli.errors import RnncliError, UserInputError

PRECISIONS = ("float32", "mixed_bfloat16")
PRECISION_HELP = ("float32, or mixed_bfloat16 (bfloat16 matmuls and activations, float32 variables, states and "
                  "losses; CPUs with AVX512_BF16 or AMX only)")
NATIVE_FLAGS = ("avx512_bf16", "amx_bf16")  # /proc/cpuinfo names of the instructions that compute bfloat16
OVERRIDE_ENV = "RNNCLI_NATIVE_BF16"
_CPUINFO = "/proc/cpuinfo"


class PrecisionError(UserInputError):
    """A precision that is no precision, or one that excludes another option (exit code 2)."""


class PrecisionUnsupported(RnncliError):
    """This CPU cannot run the precision asked for usefully; the message says why and what to do (exit code 1)."""


@dataclass(frozen=True)
class NativeBfloat16:
    """Whether this CPU computes bfloat16 natively: ``native``, the ``flags`` found, and ``source`` (where the answer
    came from: ``/proc/cpuinfo``, the environment override, or ``unknown``)."""

    native: bool
    flags: tuple[str, ...]
    source: str

    def describe(self) -> str:
        """One line for ``doctor``, e.g. ``native (avx512_bf16, amx_bf16 in /proc/cpuinfo)``."""
        if self.source == OVERRIDE_ENV:
            return f"{'native' if self.native else 'not native'} ({OVERRIDE_ENV}={os.environ.get(OVERRIDE_ENV)})"
        if self.native:
            return f"native ({', '.join(self.flags)} in {self.source})"
        if self.source == "unknown":
            return "not known to be native (no /proc/cpuinfo to read)"
        return f"not native (no {' or '.join(NATIVE_FLAGS)} in {self.source})"


def parse_precision(value: str) -> str:
    """A ``--precision`` value, checked; raises :class:`PrecisionError` for anything but :data:`PRECISIONS`."""
    cleaned = value.strip().lower() if isinstance(value, str) else value
    if cleaned not in PRECISIONS:
        raise PrecisionError(f"invalid precision {value!r}: expected {' or '.join(PRECISIONS)}")
    return cleaned


def compute_dtype_name(precision: str) -> str:
    """The dtype matmuls and activations run in: ``bfloat16`` for mixed_bfloat16, else ``float32``."""
    return "bfloat16" if parse_precision(precision) == "mixed_bfloat16" else "float32"


def native_bfloat16(cpuinfo: str | None = None) -> NativeBfloat16:
    """Read the CPU flags of ``cpuinfo`` (default ``/proc/cpuinfo``), or the ``RNNCLI_NATIVE_BF16`` override, for
    native bfloat16 support."""
    cpuinfo = cpuinfo or _CPUINFO
    override = os.environ.get(OVERRIDE_ENV)
    if override is not None and override.strip() in ("0", "1"):
        return NativeBfloat16(override.strip() == "1", (), OVERRIDE_ENV)
    try:
        with open(cpuinfo, encoding="utf-8", errors="replace") as handle:
            text = handle.read()
    except OSError:
        return NativeBfloat16(False, (), "unknown")
    flags: set[str] = set()
    for line in text.splitlines():
        key, _, value = line.partition(":")
        if key.strip() in ("flags", "Features"):
            flags.update(value.split())
    found = tuple(flag for flag in NATIVE_FLAGS if flag in flags)
    return NativeBfloat16(bool(found), found, cpuinfo)


def check_precision(precision: str, device: str = "/CPU:0", float16: bool = False) -> str:
    """Refuse ``precision`` where it cannot run as asked; returns it checked.

    ``mixed_bfloat16`` on the CPU needs native bfloat16 (:func:`native_bfloat16`), and cannot be combined with
    ``--mixed-precision`` (float16, ``float16=True``). GPUs are not checked here (TensorFlow refuses bfloat16 where
    the GPU lacks it).
    """
    precision = parse_precision(precision)
    if precision != "mixed_bfloat16":
        return precision
    if float16:
        raise PrecisionError("--mixed-precision (float16) and precision mixed_bfloat16 exclude each other: "
                             "pick one")
    if "GPU" in device.upper():
        return precision
    support = native_bfloat16()
    if not support.native:
        raise PrecisionUnsupported(f"precision mixed_bfloat16 refused: bfloat16 is {support.describe()} on this "
                                   f"CPU, and emulated bfloat16 is slower than float32. Use --precision float32 "
                                   f"(`rnncli doctor` shows the CPU's bfloat16 support).")
    return precision
