"""Choose where a run executes: ``--device auto|cpu|gpu|gpu:N`` -> a TensorFlow device string.

TensorFlow is imported inside the functions that need it, so importing this module (and validating a ``--device``
value with :func:`parse_device_spec`) stays instant.

Example::

    >>> from rnncli.platform.device import parse_device_spec, resolve_device
    >>> parse_device_spec("gpu:1")
    ('gpu', 1)
    >>> resolve_device("cpu")
    '/CPU:0'

GPU indices count the GPUs TensorFlow sees, i.e. after ``CUDA_VISIBLE_DEVICES`` has been applied.
"""

from __future__ import annotations

import os
import re

from rnncli.errors import RnncliError, UserInputError

SPEC_HELP = "auto, cpu, gpu or gpu:N (N = 0, 1, ...)"

_SPEC_RE = re.compile(r"(?P<kind>auto|cpu|gpu)(?::(?P<index>\d+))?")
_DEVICE_RE = re.compile(r"/(?:device:)?(?P<kind>CPU|GPU):(?P<index>\d+)", re.IGNORECASE)


class DeviceError(RnncliError):
    """The requested device cannot be used; the message says why and what to do about it (exit code 1)."""


class DeviceSpecError(DeviceError, UserInputError):
    """A ``--device`` value is not one of auto, cpu, gpu, gpu:N (exit code 2)."""

    exit_code = 2


def parse_device_spec(spec: str) -> tuple[str, int | None]:
    """Validate a ``--device`` value without touching TensorFlow.

    Returns ``(kind, index)`` with kind in ``auto``, ``cpu``, ``gpu``; index is only set for ``gpu:N``.
    Case and surrounding blanks are ignored. Raises :class:`DeviceSpecError` for anything else, so a click callback
    can turn it into ``click.BadParameter``.

    >>> parse_device_spec(" GPU ")
    ('gpu', None)
    """
    match = _SPEC_RE.fullmatch(spec.strip().lower()) if isinstance(spec, str) else None
    if match is None or (match["index"] is not None and match["kind"] != "gpu"):
        raise DeviceSpecError(f"invalid device {spec!r}: expected {SPEC_HELP}")
    index = match["index"]
    return match["kind"], None if index is None else int(index)


def resolve_device(spec: str) -> str:
    """Turn a ``--device`` value into a TensorFlow device string such as ``"/CPU:0"`` or ``"/GPU:1"``.

    Before anything else touches a GPU, memory growth is enabled on every GPU, so a run takes GPU memory as it needs
    it instead of reserving all of it. ``auto`` picks ``/GPU:0`` when TensorFlow can use a GPU and ``/CPU:0``
    otherwise; ``gpu`` and ``gpu:N`` raise :class:`DeviceError` when that GPU does not exist.
    """
    kind, index = parse_device_spec(spec)
    gpu_count = len(_visible_gpus())
    if kind == "cpu" or (kind == "auto" and gpu_count == 0):
        return "/CPU:0"
    index = index or 0
    if gpu_count == 0:
        raise DeviceError(
            f"no usable GPU for --device {spec.strip()}: TensorFlow sees none. "
            "Run `rnncli doctor` to see why, or use --device cpu."
        )
    if index >= gpu_count:
        raise DeviceError(
            f"no GPU {index} for --device {spec.strip()}: TensorFlow sees {gpu_count} GPU(s), "
            f"gpu:0 to gpu:{gpu_count - 1}. Pick one of those; `rnncli doctor` lists them."
        )
    return f"/GPU:{index}"


def describe_device(device: str) -> str:
    """Human text for a device string from :func:`resolve_device`, e.g. ``"CPU (8 cores)"``.

    GPUs are described by TensorFlow's device details, e.g. ``"GPU 0: NVIDIA H100 80GB HBM3 (compute 9.0)"``.
    """
    kind, index = _split_device(device)
    if kind == "CPU":
        return f"CPU ({_cpu_count()} cores)"
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    if index >= len(gpus):
        return f"GPU {index}"
    details = tf.config.experimental.get_device_details(gpus[index])
    text = f"GPU {index}: {details.get('device_name', 'unknown model')}"
    capability = details.get("compute_capability")
    if capability:
        text += f" (compute {capability[0]}.{capability[1]})"
    return text


def enable_mixed_precision(device: str) -> None:
    """Compute in float16 and keep variables in float32 for the rest of the process.

    Turns on TensorFlow's automatic mixed-precision graph rewrite: inside the compiled training and inference
    steps, matmuls and element-wise math run in float16 on the GPU while every variable (weights, optimizer slots,
    states) stays float32; the training step scales the loss dynamically so float16 gradients do not underflow
    (``rnncli.training.loop.Engine``). Only GPUs get faster from float16, so a CPU device raises
    :class:`DeviceError`.
    """
    kind, _ = _split_device(device)
    if kind != "GPU":
        raise DeviceError(
            "--mixed-precision needs a GPU: float16 on the CPU is slower than float32, not faster. "
            "Drop --mixed-precision, or run on a GPU (`rnncli doctor` shows whether one is usable)."
        )
    import tensorflow as tf

    tf.config.optimizer.set_experimental_options({"auto_mixed_precision": True})


def enable_memory_growth() -> None:
    """Let every GPU allocate memory on demand; a no-op once TensorFlow has initialised its GPUs."""
    import tensorflow as tf

    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            tf.config.experimental.set_memory_growth(gpu, True)
        except RuntimeError:
            # The runtime is already initialised (an earlier call, or the caller ran ops): the setting is fixed.
            pass


def _visible_gpus() -> list[str]:
    """Names of the GPUs TensorFlow created devices for, after enabling memory growth."""
    import tensorflow as tf

    enable_memory_growth()
    # Logical devices, not physical ones: a GPU that TensorFlow lists but skips (unsupported compute capability,
    # failed context creation) has no logical device and cannot run anything.
    return [device.name for device in tf.config.list_logical_devices("GPU")]


def _split_device(device: str) -> tuple[str, int]:
    match = _DEVICE_RE.fullmatch(device.strip()) if isinstance(device, str) else None
    if match is None:
        raise ValueError(f"not a TensorFlow device string: {device!r} (expected e.g. '/CPU:0' or '/GPU:0')")
    return match["kind"].upper(), int(match["index"])


def _cpu_count() -> int:
    try:
        return len(os.sched_getaffinity(0))  # honours CPU limits of containers and taskset
    except AttributeError:
        return os.cpu_count() or 1
