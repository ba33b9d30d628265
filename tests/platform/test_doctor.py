"""rnncli.platform.doctor: the environment report and its rendering."""

from __future__ import annotations

import io
import json
import platform

import pytest
from rich.console import Console

import rnncli
from rnncli.platform import doctor


@pytest.fixture(scope="module")
def report():
    return doctor.collect()


@pytest.fixture
def cpu_only(report):
    if report["gpus"]:
        pytest.skip("this machine has a GPU")


def render_text(report) -> str:
    console = Console(file=io.StringIO(), width=120, record=True, color_system=None)
    console.print(doctor.render(report))
    return console.export_text()


def fake_report(**changes):
    report = {
        "rnncli": "0.1.0",
        "python": "3.11.7",
        "platform": "Linux",
        "tensorflow": "2.21.0",
        "tensorflow_error": None,
        "is_cuda_build": True,
        "cuda_build_version": "12.5.1",
        "cudnn_build_version": "9",
        "cuda_compute_capabilities": ["sm_80", "compute_90"],
        "cuda_wheels": {"nvidia-cudnn-cu12": "9.28.0.42"},
        "cuda_visible_devices": None,
        "host_allocator": "bfc",
        "devices": [{"name": "/physical_device:CPU:0", "type": "CPU"}],
        "gpus": [],
        "gpu_usable": False,
        "hints": [],
    }
    report.update(changes)
    return report


def test_report_is_json_and_names_the_versions(report):
    import tensorflow as tf

    assert json.loads(json.dumps(report)) == report
    assert report["rnncli"] == rnncli.__version__
    assert report["python"] == platform.python_version()
    assert report["tensorflow"] == tf.__version__ and report["tensorflow_error"] is None
    assert isinstance(report["is_cuda_build"], bool)
    if report["is_cuda_build"]:
        assert report["cuda_build_version"] and report["cudnn_build_version"]
    assert {"name": "/physical_device:CPU:0", "type": "CPU"} in report["devices"]


def test_no_gpu_is_reported_with_a_hint(report, cpu_only):
    assert report["gpus"] == [] and report["gpu_usable"] is False
    assert report["hints"]
    text = render_text(report)
    assert "no usable GPU" in text and "hint:" in text
    assert f"tensorflow   {report['tensorflow']}" in text


def test_hidden_gpus_are_named_in_the_hints(monkeypatch, cpu_only):
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "-1")
    hints = doctor.collect()["hints"]
    assert any("CUDA_VISIBLE_DEVICES='-1' hides every GPU" in hint for hint in hints)


def test_matmul_probe_fails_on_a_missing_gpu(cpu_only):
    import tensorflow as tf

    usable, error = doctor._probe_matmul(tf, 7)
    assert usable is False and error


def test_render_shows_each_gpu_and_its_failure():
    gpus = [
        {"index": 0, "name": "/physical_device:GPU:0", "model": "NVIDIA Fake A", "compute_capability": "9.0",
         "usable": True, "error": None},
        {"index": 1, "name": "/physical_device:GPU:1", "model": "NVIDIA Fake B", "compute_capability": "8.0",
         "usable": False, "error": "InternalError: cuBLAS init failed"},
    ]
    text = render_text(fake_report(gpus=gpus, gpu_usable=True))
    assert "usable (1 of 2)" in text
    assert "NVIDIA Fake A" in text and "NVIDIA Fake B" in text
    assert "failed: InternalError: cuBLAS init failed" in text


def test_render_survives_a_broken_tensorflow():
    text = render_text(fake_report(tensorflow=None, tensorflow_error="ImportError: libfoo.so", hints=["reinstall"]))
    assert "does not import: ImportError: libfoo.so" in text and "hint: reinstall" in text
