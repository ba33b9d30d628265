"""rnncli.platform.device: --device parsing, resolution to TensorFlow device strings, mixed precision."""

from __future__ import annotations

import subprocess
import sys

import pytest

from rnncli.platform import device
from rnncli.platform.device import DeviceError, DeviceSpecError, parse_device_spec, resolve_device
from rnncli.errors import RnncliError, UserInputError


@pytest.fixture(scope="module")
def cpu_only():
    """Skip tests of the no-GPU behaviour on a machine where TensorFlow has a GPU."""
    import tensorflow as tf

    device.enable_memory_growth()
    if tf.config.list_logical_devices("GPU"):
        pytest.skip("this machine has a GPU")


@pytest.fixture
def two_gpus(monkeypatch):
    """Pretend TensorFlow sees two GPUs (resolution logic only; nothing runs on them)."""
    monkeypatch.setattr(device, "_visible_gpus", lambda: ["/device:GPU:0", "/device:GPU:1"])


@pytest.mark.parametrize(
    ("spec", "expected"),
    [
        ("auto", ("auto", None)),
        ("cpu", ("cpu", None)),
        ("gpu", ("gpu", None)),
        ("gpu:0", ("gpu", 0)),
        ("gpu:12", ("gpu", 12)),
        (" GPU:1 ", ("gpu", 1)),
    ],
)
def test_parse_device_spec_accepts(spec, expected):
    assert parse_device_spec(spec) == expected


@pytest.mark.parametrize("spec", ["", "tpu", "cuda:0", "gpu:", "gpu:-1", "gpu:x", "gpu0", "cpu:0", "auto:1", None])
def test_parse_device_spec_rejects(spec):
    with pytest.raises(DeviceSpecError, match=r"invalid device .*expected auto, cpu, gpu or gpu:N") as info:
        parse_device_spec(spec)
    assert info.value.exit_code == 2


def test_error_classes_fit_the_cli_exit_codes():
    assert issubclass(DeviceError, RnncliError) and DeviceError.exit_code == 1
    assert issubclass(DeviceSpecError, DeviceError) and issubclass(DeviceSpecError, UserInputError)


def test_importing_device_and_doctor_does_not_import_tensorflow():
    code = "import sys, rnncli.platform.device, rnncli.platform.doctor; sys.exit('tensorflow' in sys.modules)"
    assert subprocess.run([sys.executable, "-c", code], check=False).returncode == 0


@pytest.mark.parametrize("spec", ["cpu", "auto"])
def test_cpu_and_auto_resolve_to_cpu_without_gpu(cpu_only, spec):
    assert resolve_device(spec) == "/CPU:0"


@pytest.mark.parametrize("spec", ["gpu", "gpu:0", "gpu:1"])
def test_gpu_without_gpu_points_to_doctor(cpu_only, spec):
    with pytest.raises(DeviceError, match=r"no usable GPU.*TensorFlow sees none.*`rnncli doctor`") as info:
        resolve_device(spec)
    assert info.value.exit_code == 1


def test_resolve_device_rejects_bad_spec():
    with pytest.raises(DeviceSpecError):
        resolve_device("gpu:one")


@pytest.mark.parametrize(
    ("spec", "expected"),
    [("auto", "/GPU:0"), ("gpu", "/GPU:0"), ("gpu:0", "/GPU:0"), ("gpu:1", "/GPU:1"), ("cpu", "/CPU:0")],
)
def test_resolve_device_with_gpus(two_gpus, spec, expected):
    assert resolve_device(spec) == expected


def test_gpu_index_out_of_range_lists_the_valid_ones(two_gpus):
    with pytest.raises(DeviceError, match=r"no GPU 2 .*sees 2 GPU\(s\), gpu:0 to gpu:1"):
        resolve_device("gpu:2")


def test_describe_cpu():
    assert device.describe_device("/CPU:0").startswith("CPU (")
    assert device.describe_device("/device:CPU:0").endswith(" cores)")


def test_describe_rejects_non_device_strings():
    with pytest.raises(ValueError, match="not a TensorFlow device string"):
        device.describe_device("gpu")


def test_mixed_precision_is_refused_on_cpu():
    import tensorflow as tf

    with pytest.raises(DeviceError, match=r"--mixed-precision needs a GPU.*Drop --mixed-precision"):
        device.enable_mixed_precision("/CPU:0")
    assert not tf.config.optimizer.get_experimental_options().get("auto_mixed_precision", False)


def test_mixed_precision_on_gpu_turns_on_the_float16_rewrite():
    import tensorflow as tf

    try:
        device.enable_mixed_precision("/GPU:0")  # only sets the graph option, so it also works without a GPU
        assert tf.config.optimizer.get_experimental_options()["auto_mixed_precision"] is True
    finally:
        tf.config.optimizer.set_experimental_options({"auto_mixed_precision": False})