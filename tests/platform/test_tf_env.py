"""rnncli.platform.tf_env: TensorFlow's process-wide settings, applied before TensorFlow starts, overridable by the user."""

from __future__ import annotations

import json
import os
import subprocess
import sys

from rnncli.platform import tf_env


def test_apply_sets_the_defaults_and_keeps_what_the_user_exported():
    environ = {"TF_CPU_ALLOCATOR_USE_BFC": "false"}
    tf_env.apply(environ)
    assert environ == {"TF_CPU_ALLOCATOR_USE_BFC": "false", "TF_CPP_MIN_LOG_LEVEL": "2",
                       "KERAS_BACKEND": "tensorflow"}
    fresh: dict[str, str] = {}
    tf_env.apply(fresh)
    assert fresh["TF_CPU_ALLOCATOR_USE_BFC"] == "true"


PROBE = """
import json
from rnncli.platform.runtime import prepare_tensorflow
tf = prepare_tensorflow(False)
tf.matmul(tf.ones([64, 64]), tf.ones([64, 64]))
try:
    stats = tf.config.experimental.get_memory_info("CPU:0")   # only the BFC pool keeps statistics
except ValueError:
    stats = None
from rnncli.platform.doctor import host_allocator, onednn_enabled
print(json.dumps({"stats": stats, "doctor": host_allocator(tf), "onednn": onednn_enabled()}))
"""


def _probe(environ: dict[str, str]):
    run = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, env=environ, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    return json.loads(run.stdout.strip().splitlines()[-1])


def test_rnncli_runs_tensorflow_on_the_bfc_host_allocator_unless_told_otherwise():
    environ = {k: v for k, v in os.environ.items() if k != "TF_CPU_ALLOCATOR_USE_BFC"}
    default = _probe(environ)
    assert default["stats"] is not None and default["stats"]["peak"] > 0 and default["doctor"] == "bfc"
    off = _probe({**environ, "TF_CPU_ALLOCATOR_USE_BFC": "false"})
    if off["onednn"]:
        # oneDNN registers its own CPU allocator (a BFC-based pool for large blocks; the probe's 16 KiB matmul went
        # to its small-size allocator, which counts nothing) in malloc's place: a pool, and named so. oneDNN is on
        # by default only on CPUs with AVX-512 VNNI/BF16 or AMX; .ci/run tests the other setting too.
        assert off["doctor"] == "onednn", off
    else:
        # without a pool, TensorFlow raises on some CPUs and reports zeros on others (Intel with AVX-512)
        assert off["doctor"] == "malloc" and (off["stats"] is None or off["stats"]["peak"] == 0), off


class _FakeTensorFlow:
    """Just enough of ``tf`` for doctor.host_allocator: an allocation and the allocator statistics it reads."""

    def __init__(self, stats):
        self._stats = stats
        self.config = self
        self.experimental = self

    def fill(self, dims, value):
        return 0.0

    def get_memory_info(self, device):
        if self._stats is None:
            raise ValueError(f"Allocator stats not available for device '{device}'")
        return self._stats


def test_host_allocator_reads_zero_statistics_as_malloc_whatever_the_cpu():
    from rnncli.platform.doctor import host_allocator

    assert host_allocator(_FakeTensorFlow(None)) == "malloc"                        # AMD: no statistics at all
    assert host_allocator(_FakeTensorFlow({"current": 0, "peak": 0})) == "malloc"   # Intel AVX-512: zeros
    pooled = _FakeTensorFlow({"current": 262144, "peak": 786432})
    assert host_allocator(pooled, {"TF_CPU_ALLOCATOR_USE_BFC": "true"}) == "bfc"
    assert host_allocator(pooled, {"TF_CPU_ALLOCATOR_USE_BFC": "1"}) == "bfc"
    assert host_allocator(pooled, {"TF_CPU_ALLOCATOR_USE_BFC": "false"}) == "onednn"  # oneDNN's pool
    assert host_allocator(pooled, {}) == "onednn"


def test_skip_keras_blocks_keras_only_during_the_import_and_only_where_the_user_has_not_chosen():
    modules: dict = {}
    with tf_env.skip_keras({}, modules):
        assert modules == {"keras": None, "tf_keras": None}  # `import keras` fails fast meanwhile
    assert modules == {}  # and works again afterwards
    for environ, already in (({"TF_USE_LEGACY_KERAS": "0"}, {}), ({}, {"tensorflow": object()}),
                             ({}, {"keras": object()})):
        modules = dict(already)
        with tf_env.skip_keras(environ, modules):
            assert modules == already, (environ, already)
        assert modules == already


def test_rnncli_processes_do_not_import_keras():
    script = ("import sys\nfrom rnncli.platform.runtime import prepare_tensorflow\ntf = prepare_tensorflow(False)\n"
              "tf.function(lambda x: x * 2, jit_compile=True)(tf.ones([2]))\n"
              "print(sorted({m.split('.')[0] for m in sys.modules} & {'keras', 'sklearn', 'pandas', 'matplotlib'}))")
    environ = {k: v for k, v in os.environ.items() if k != "TF_USE_LEGACY_KERAS"}
    run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=environ, timeout=300)
    assert run.returncode == 0, run.stderr[-2000:]
    assert run.stdout.strip().splitlines()[-1] == "[]"
