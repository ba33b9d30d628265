"""``rnncli doctor``: what TensorFlow was built with, which devices it sees, and whether each GPU really computes.

:func:`collect` returns a JSON-serialisable dict; :func:`render` turns it into a Rich renderable. Nothing here prints.

Example::

    >>> from rnncli.platform import doctor
    >>> report = doctor.collect()
    >>> isinstance(report["gpu_usable"], bool)   # False on a machine without a GPU
    True
    >>> import rich
    >>> rich.print(doctor.render(report))   # what `rnncli doctor` shows  # doctest: +SKIP
"""

from __future__ import annotations

import importlib.metadata
import os
import platform
from collections.abc import Mapping
from typing import Any

from rich.console import Group
from rich.table import Table
from rich.text import Text

import rnncli
from rnncli.platform import compile_cache
from rnncli.platform.device import enable_memory_growth
from rnncli.platform.precision import native_bfloat16

# The pip wheels that `tensorflow[and-cuda]` (extra `rnncli[gpu]`) brings; their versions tell a cuDNN or CUDA
# mismatch apart from a missing driver.
_CUDA_WHEEL_PREFIX = "nvidia-"

_EXPECTED_PRODUCT = [[7.0, 10.0], [15.0, 22.0]]


def collect() -> dict[str, Any]:
    """Inspect the Python, TensorFlow and GPU setup of this process.

    Keys: ``rnncli``, ``python``, ``platform``, ``tensorflow`` (version, or None when it does not import, then
    ``tensorflow_error`` says why), ``is_cuda_build``, ``cuda_build_version`` and ``cudnn_build_version`` (what
    TensorFlow was compiled against), ``cuda_compute_capabilities``, ``cuda_wheels`` (installed ``nvidia-*`` wheels
    and their versions), ``cuda_visible_devices``, ``host_allocator`` (``bfc``, ``onednn`` or ``malloc``, the one
    TensorFlow runs on), ``onednn`` (whether oneDNN's kernels are on), ``compile_cache``
    (``rnncli.platform.compile_cache.describe()``: state, directory, entries, bytes), ``bfloat16`` (native bfloat16
    on this CPU: ``native``, ``flags``, ``source``, ``text``), ``devices`` (physical devices: name and type), ``gpus``
    (one dict per GPU: ``index``, ``name``, ``model``,
    ``compute_capability``, ``usable`` and ``error``, the reason when a tiny matmul on it fails), ``gpu_usable`` (at least one GPU computes) and ``hints`` (sentences on what to fix).

    Importing TensorFlow and running the test matmuls initialises its GPUs (with memory growth enabled).
    """
    report: dict[str, Any] = {
        "rnncli": rnncli.__version__,
        "python": platform.python_version(),
        "platform": platform.platform(),
        "tensorflow": None,
        "tensorflow_error": None,
        "is_cuda_build": False,
        "cuda_build_version": None,
        "cudnn_build_version": None,
        "cuda_compute_capabilities": [],
        "cuda_wheels": _cuda_wheels(),
        "cuda_visible_devices": os.environ.get("CUDA_VISIBLE_DEVICES"),
        "host_allocator": None,
        "onednn": None,
        "devices": [],
        "gpus": [],
        "gpu_usable": False,
        "hints": [],
        "compile_cache": compile_cache.describe(),
        "bfloat16": _bfloat16_entry(),
    }
    try:
        import tensorflow as tf
    except Exception as exc:  # a broken install is exactly what doctor has to report
        report["tensorflow_error"] = f"{type(exc).__name__}: {exc}"
        report["hints"] = _hints(report) + compile_cache.hints(report["compile_cache"])
        return report

    report["host_allocator"] = host_allocator(tf)
    report["onednn"] = onednn_enabled()
    build = tf.sysconfig.get_build_info()
    report.update(
        tensorflow=tf.__version__,
        is_cuda_build=bool(build.get("is_cuda_build", False)),
        cuda_build_version=build.get("cuda_version"),
        cudnn_build_version=build.get("cudnn_version"),
        cuda_compute_capabilities=list(build.get("cuda_compute_capabilities", [])),
    )
    enable_memory_growth()
    physical_gpus = tf.config.list_physical_devices("GPU")
    report["devices"] = [{"name": d.name, "type": d.device_type} for d in tf.config.list_physical_devices()]
    logical_gpu_count = len(tf.config.list_logical_devices("GPU"))
    report["gpus"] = [_gpu_entry(tf, index, gpu, logical_gpu_count) for index, gpu in enumerate(physical_gpus)]
    report["gpu_usable"] = any(gpu["usable"] for gpu in report["gpus"])
    report["hints"] = _hints(report) + compile_cache.hints(report["compile_cache"])
    return report


def host_allocator(tf: Any, environ: Mapping[str, str] | None = None) -> str:
    """The host allocator TensorFlow runs on: ``bfc`` (its best-fit pool; rnncli.platform.tf_env asks for it),
    ``onednn`` (oneDNN's CPU allocator, itself a BFC-based pool, which TensorFlow registers in malloc's place
    whenever oneDNN is on) or ``malloc``.

    Pool or not is measured: only a pool counts what it hands out, so the probe makes a known allocation and reads
    the statistics (under malloc ``get_memory_info("CPU:0")`` raises on some builds and CPUs and returns zeros on
    others). Which pool is decided as TensorFlow decides it at start-up: ``TF_CPU_ALLOCATOR_USE_BFC`` (read with
    TensorFlow's rule: ``true``/``1``, case-insensitive) selects its BFC pool, otherwise the pool can only be
    oneDNN's. oneDNN is on by default only on CPUs with AVX-512 VNNI/BF16 or AMX (and with
    ``TF_ENABLE_ONEDNN_OPTS=1`` anywhere), which is why a pool appears under ``TF_CPU_ALLOCATOR_USE_BFC=false``
    on some machines and not on others.
    """
    environ = os.environ if environ is None else environ
    probe = tf.fill([64, 1024], 1.0) + 1.0  # 256 KiB through the CPU device's allocator, alive while we read
    try:
        stats = tf.config.experimental.get_memory_info("CPU:0")
    except ValueError:
        return "malloc"
    finally:
        del probe
    if int(stats.get("peak", 0)) <= 0:
        return "malloc"
    return "bfc" if environ.get("TF_CPU_ALLOCATOR_USE_BFC", "").strip().lower() in ("1", "true") else "onednn"


def onednn_enabled() -> bool | None:
    """Whether this TensorFlow process runs oneDNN's kernels (None when the build cannot say)."""
    try:
        from tensorflow.python.util import _pywrap_util_port  # noqa: PLC0415 (TensorFlow's own runtime query)
    except ImportError:
        return None
    return bool(_pywrap_util_port.IsMklEnabled())


def render(report: dict[str, Any]) -> Group:
    """A Rich renderable of a :func:`collect` report: a summary table, a GPU table when there are GPUs, and hints."""
    summary = Table(show_header=False, box=None, pad_edge=False)
    summary.add_column(style="bold")
    summary.add_column()
    summary.add_row("rnncli", report["rnncli"])
    summary.add_row("python", f"{report['python']} ({report['platform']})")
    if report["tensorflow"] is None:
        summary.add_row("tensorflow", Text(f"does not import: {report['tensorflow_error']}", style="red"))
    else:
        summary.add_row("tensorflow", report["tensorflow"])
        if report["is_cuda_build"]:
            built = f"CUDA {report['cuda_build_version']}, cuDNN {report['cudnn_build_version']}"
            if report["cuda_compute_capabilities"]:
                built += f", {' '.join(report['cuda_compute_capabilities'])}"
        else:
            built = "no CUDA (CPU-only build)"
        summary.add_row("built with", built)
    wheels = report["cuda_wheels"]
    summary.add_row("CUDA wheels", ", ".join(f"{n} {v}" for n, v in wheels.items()) if wheels else "none installed")
    if report["cuda_visible_devices"] is not None:
        summary.add_row("CUDA_VISIBLE_DEVICES", repr(report["cuda_visible_devices"]))
    if report["host_allocator"]:
        summary.add_row("allocator", f"{report['host_allocator']} (host)")
    if report.get("onednn") is not None:
        summary.add_row("oneDNN", "on" if report["onednn"] else "off (TF_ENABLE_ONEDNN_OPTS=1 turns it on)")
    cache = report.get("compile_cache")
    if cache:
        summary.add_row("XLA cache", f"{cache['state']}: {cache['directory']} ({cache['entries']} programs, "
                                     f"{cache['bytes'] / 1e6:.1f} MB; all versions {cache['all_bytes'] / 1e6:.1f} MB)")
    bf16 = report.get("bfloat16")
    if bf16:
        summary.add_row("bfloat16", Text(bf16["text"], style="green" if bf16["native"] else "yellow"))
    summary.add_row("devices", ", ".join(d["name"] for d in report["devices"]) or "none")
    usable = sum(gpu["usable"] for gpu in report["gpus"])
    if report["gpu_usable"]:
        summary.add_row("GPU", Text(f"usable ({usable} of {len(report['gpus'])})", style="green"))
    else:
        summary.add_row("GPU", Text("no usable GPU", style="yellow"))

    parts: list[Any] = [summary]
    if report["gpus"]:
        gpus = Table(title="GPUs", title_justify="left")
        for column in ("index", "model", "compute", "test matmul"):
            gpus.add_column(column)
        for gpu in report["gpus"]:
            result = Text("ok", style="green") if gpu["usable"] else Text(f"failed: {gpu['error']}", style="red")
            gpus.add_row(str(gpu["index"]), gpu["model"] or "?", gpu["compute_capability"] or "?", result)
        parts.append(gpus)
    for hint in report["hints"]:
        parts.append(Text(f"hint: {hint}"))
    return Group(*parts)


def _bfloat16_entry() -> dict[str, Any]:
    """``native`` (AVX512_BF16 or AMX on this CPU), ``flags`` found and the ``text`` doctor shows: what
    ``training.precision: mixed_bfloat16`` needs (``rnncli.platform.precision``)."""
    support = native_bfloat16()
    text = support.describe() + (": mixed_bfloat16 available" if support.native else ": mixed_bfloat16 refused")
    return {"native": support.native, "flags": list(support.flags), "source": support.source, "text": text}


def _gpu_entry(tf: Any, index: int, gpu: Any, logical_gpu_count: int) -> dict[str, Any]:
    details = tf.config.experimental.get_device_details(gpu)
    capability = details.get("compute_capability")
    entry = {
        "index": index,
        "name": gpu.name,
        "model": details.get("device_name"),
        "compute_capability": f"{capability[0]}.{capability[1]}" if capability else None,
        "usable": False,
        "error": None,
    }
    if index >= logical_gpu_count:
        # TensorFlow lists the GPU but made no device for it, e.g. a compute capability it was not built for.
        entry["error"] = "TensorFlow created no device for it (its log says why: 'Ignoring visible gpu device')"
        return entry
    entry["usable"], entry["error"] = _probe_matmul(tf, index)
    return entry


def _probe_matmul(tf: Any, index: int) -> tuple[bool, str | None]:
    """Run a 2x2 matmul on ``/GPU:index``: listing a GPU does not prove cuBLAS and the driver work."""
    try:
        with tf.device(f"/GPU:{index}"):
            a = tf.constant([[1.0, 2.0], [3.0, 4.0]])
            product = tf.linalg.matmul(a, a)
        # Soft placement silently falls back to the CPU, so check where it ran.
        if not product.device.upper().endswith(f"GPU:{index}"):
            return False, f"the matmul ran on {product.device} instead"
        if product.numpy().tolist() != _EXPECTED_PRODUCT:
            return False, f"the matmul gave {product.numpy().tolist()} instead of {_EXPECTED_PRODUCT}"
    except Exception as exc:  # any failure here is the diagnosis
        return False, f"{type(exc).__name__}: {exc}".strip()
    return True, None


def _cuda_wheels() -> dict[str, str]:
    wheels = {}
    for dist in importlib.metadata.distributions():
        name = dist.metadata["Name"] or ""
        if name.lower().startswith(_CUDA_WHEEL_PREFIX):
            wheels[name.lower()] = dist.version
    return dict(sorted(wheels.items()))


def _hints(report: dict[str, Any]) -> list[str]:
    """What to fix, most likely cause first; empty when a GPU works."""
    if report["gpu_usable"]:
        return []
    hints = []
    if report["tensorflow"] is None:
        hints.append('TensorFlow does not import; reinstall it with `pip install "rnncli[gpu]"`.')
        return hints
    if not report["is_cuda_build"]:
        hints.append('this TensorFlow build has no CUDA support; install the CUDA build: `pip install "rnncli[gpu]"`.')
    visible = report["cuda_visible_devices"]
    if visible is not None and visible.strip() in ("", "-1"):
        hints.append(f"CUDA_VISIBLE_DEVICES={visible!r} hides every GPU; unset it.")
    if not report["gpus"] and not _has_nvidia_device_nodes():
        hints.append(
            "no NVIDIA driver is visible (/dev/nvidiactl is missing): this machine has no NVIDIA GPU or driver, "
            "or, in Docker, the container was started without `--gpus all`."
        )
    if not report["gpus"] and not any(name.startswith("nvidia-cudnn") for name in report["cuda_wheels"]):
        hints.append(
            'the CUDA and cuDNN libraries TensorFlow loads are not installed: `pip install "rnncli[gpu]"` '
            "(it pulls tensorflow[and-cuda])."
        )
    for gpu in report["gpus"]:
        if not gpu["usable"]:
            hints.append(f"GPU {gpu['index']} is listed but fails a test matmul: {gpu['error']}")
    if not hints:
        hints.append(
            "TensorFlow registers no GPU although a driver and the CUDA wheels are present; run "
            "`python -c \"import tensorflow as tf; tf.config.list_physical_devices('GPU')\"` and read its "
            "'Cannot dlopen some GPU libraries' warning for the library that fails to load."
        )
    return hints


def _has_nvidia_device_nodes() -> bool:
    # /dev/dxg is how WSL 2 exposes the Windows driver.
    return os.path.exists("/dev/nvidiactl") or os.path.exists("/dev/dxg")
