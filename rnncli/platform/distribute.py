"""Distribution strategies: TensorFlow's ``tf.distribute`` engine, configured from ``training.distribute``.

* ``none``: one device.
* ``mirrored``: ``MirroredStrategy`` over the visible GPUs or ``training.devices``; CPU entries such as
  ``/cpu:1`` beyond the physical CPUs become logical CPU devices (useful to test on a CPU-only machine).
* ``multi_worker``: ``MultiWorkerMirroredStrategy`` configured by the standard ``TF_CONFIG`` environment variable.

Strategies must be created before TensorFlow runs its first op, so ``rnncli.platform.runtime.prepare_tensorflow`` calls
``make_strategy`` right after the import.
"""

from __future__ import annotations

import json
import os
import re
from typing import Any

from rnncli.errors import UserInputError


def tf_config() -> dict:
    """The parsed ``TF_CONFIG`` (empty when unset); a clear error when it is not valid JSON."""
    text = os.environ.get("TF_CONFIG", "")
    if not text.strip():
        return {}
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise UserInputError(f"TF_CONFIG is not valid JSON ({exc})") from None
    if not isinstance(value, dict) or "cluster" not in value or "task" not in value:
        raise UserInputError('TF_CONFIG needs "cluster" and "task" (see the README section on several machines)')
    return value


def is_chief() -> bool:
    """Whether this process writes checkpoints and logs: the chief, or worker 0 when there is no chief."""
    config = tf_config()
    if not config:
        return True
    task = config.get("task", {})
    try:
        kind, index = task.get("type"), int(task.get("index", 0))
    except (AttributeError, TypeError, ValueError):
        raise UserInputError(f'TF_CONFIG "task" must look like {{"type": "worker", "index": 0}}, got {task!r}') \
            from None
    if "chief" in config.get("cluster", {}):
        return kind == "chief"
    return kind == "worker" and index == 0


def configure_logical_cpus(devices: list[str]) -> None:
    """Split the physical CPU into as many logical CPUs as ``devices`` names (``/cpu:0``, ``/cpu:1`` ...)."""
    import tensorflow as tf

    wanted = [int(m.group(1)) for d in devices if (m := re.fullmatch(r"/?(?:device:)?cpu:(\d+)", d.lower()))]
    if not wanted:
        return
    physical = tf.config.list_physical_devices("CPU")
    count = max(wanted) + 1
    if count <= 1:
        return
    try:
        tf.config.set_logical_device_configuration(physical[0], [tf.config.LogicalDeviceConfiguration()] * count)
    except RuntimeError:
        if len(tf.config.list_logical_devices("CPU")) < count:
            raise UserInputError(f"training.devices asks for {count} CPU devices, but TensorFlow was already "
                                 f"initialised with {len(tf.config.list_logical_devices('CPU'))} in this process; "
                                 f"run the command in a fresh process") from None


def make_strategy(kind: str, devices: list[str] | None = None) -> Any:
    """The strategy for ``kind`` (None for ``none``)."""
    import tensorflow as tf

    if kind in (None, "none"):
        return None
    if kind == "mirrored":
        if devices:
            configure_logical_cpus(devices)
        return tf.distribute.MirroredStrategy(devices=devices or None)
    if kind == "multi_worker":
        if not tf_config():
            raise UserInputError("distribute: multi_worker needs the TF_CONFIG environment variable (cluster and task)")
        options = tf.distribute.experimental.CommunicationOptions(
            implementation=tf.distribute.experimental.CommunicationImplementation.RING)
        return tf.distribute.MultiWorkerMirroredStrategy(communication_options=options)
    raise UserInputError(f"unknown distribution strategy {kind!r}; expected none, mirrored or multi_worker")


def describe(strategy: Any) -> str:
    if strategy is None:
        return "none (1 replica)"
    name = type(strategy).__name__
    return f"{name} with {strategy.num_replicas_in_sync} replicas"


_current: Any = None


def activate(kind: str, devices: list[str] | None = None) -> Any:
    """Create the strategy for this process (once) and remember it as ``current()``."""
    global _current
    if kind in (None, "none"):
        _current = None
    elif _current is None or getattr(_current, "_rnncli_kind", None) != kind:
        _current = make_strategy(kind, devices)
        _current._rnncli_kind = kind
    return _current


def current() -> Any:
    return _current
