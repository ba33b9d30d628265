"""rnncli.platform.compile_cache: where the persistent XLA cache lives, how it is switched off, what doctor reports."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from click.testing import CliRunner

from rnncli.platform import compile_cache
from rnncli.cli.main import main


def test_apply_points_tensorflow_at_a_per_host_folder(tmp_path: Path) -> None:
    environ = {"RNNCLI_CACHE_DIR": str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_auto_jit=0"}
    directory = compile_cache.apply(environ)
    assert directory is not None and directory.is_dir() and directory.parent == tmp_path / "xla"
    assert directory.name.startswith("tf") and len(directory.name.split("-")[-1]) == 12
    assert environ["TF_XLA_FLAGS"] == f"--tf_xla_auto_jit=0 --tf_xla_persistent_cache_directory={directory}"
    assert environ["TF_CPP_MIN_LOG_LEVEL"] == "3"  # hides the protobuf text-parse line every cache hit logs


def test_the_key_follows_the_xla_flags(tmp_path: Path) -> None:
    plain = compile_cache.cache_dir({"RNNCLI_CACHE_DIR": str(tmp_path)})
    flagged = compile_cache.cache_dir({"RNNCLI_CACHE_DIR": str(tmp_path), "XLA_FLAGS": "--xla_cpu_use_onednn=true"})
    assert plain != flagged
    assert plain == compile_cache.cache_dir({"RNNCLI_CACHE_DIR": str(tmp_path)})


def test_switches_off_and_user_choices(tmp_path: Path) -> None:
    for value in ("1", "true", "yes"):
        environ = {"RNNCLI_CACHE_DIR": str(tmp_path), "RNNCLI_NO_CACHE": value}
        assert compile_cache.apply(environ) is None and "TF_XLA_FLAGS" not in environ
        assert compile_cache.describe(environ)["state"].startswith("off")
    assert compile_cache.apply({"RNNCLI_CACHE_DIR": str(tmp_path), "RNNCLI_NO_CACHE": "0"}) is not None
    own = {"RNNCLI_CACHE_DIR": str(tmp_path), "TF_XLA_FLAGS": "--tf_xla_persistent_cache_directory=/elsewhere",
           "TF_CPP_MIN_LOG_LEVEL": "1"}
    assert compile_cache.apply(own) is None and own["TF_CPP_MIN_LOG_LEVEL"] == "1"
    assert "own cache directory" in compile_cache.describe(own)["state"]
    blocked = tmp_path / "file"
    blocked.write_text("not a folder")
    assert compile_cache.apply({"RNNCLI_CACHE_DIR": str(blocked)}) is None


def test_default_location_follows_xdg(tmp_path: Path) -> None:
    assert compile_cache.base_dir({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "rnncli"
    assert compile_cache.base_dir({}) == Path.home() / ".cache" / "rnncli"


def test_describe_counts_this_hosts_entries(tmp_path: Path) -> None:
    environ = {"RNNCLI_CACHE_DIR": str(tmp_path)}
    directory = compile_cache.apply(dict(environ))
    (directory / "xla_compile_cache__1__2__XLA_CPU_JIT.pb").write_bytes(b"x" * 1000)
    (tmp_path / "xla" / "tf0-old").mkdir()
    (tmp_path / "xla" / "tf0-old" / "entry.pb").write_bytes(b"x" * 500)
    report = compile_cache.describe(environ)
    assert report == {"state": "on", "directory": str(directory), "entries": 1, "bytes": 1000, "all_bytes": 1500}


def test_no_cache_flag_sets_the_switch(monkeypatch, tmp_path: Path) -> None:
    monkeypatch.delenv("RNNCLI_NO_CACHE", raising=False)
    (tmp_path / "ok.yaml").write_text("model:\n  layers:\n    - {type: Dense, output_dim: 1, input_dim: 2}\n")
    result = CliRunner().invoke(main, ["--no-cache", "validate", str(tmp_path / "ok.yaml")])
    assert result.exit_code == 0, result.output
    import os

    assert os.environ.pop("RNNCLI_NO_CACHE") == "1"


def test_a_cached_program_is_reused_with_the_same_result(tmp_path: Path) -> None:
    """Two processes compile the same XLA function: the first writes the cache, the second reads it."""
    script = (
        "from rnncli.platform.runtime import prepare_tensorflow\n"
        "tf = prepare_tensorflow(False)\n"
        "f = tf.function(lambda x: tf.reduce_sum(tf.tanh(x @ x)), jit_compile=True)\n"
        "print(repr(float(f(tf.reshape(tf.range(16.0), [4, 4]) / 10))))\n")
    env = {**__import__("os").environ, "RNNCLI_CACHE_DIR": str(tmp_path)}
    env.pop("RNNCLI_NO_CACHE", None)
    env.pop("TF_XLA_FLAGS", None)  # an earlier in-process command may have set it (to the session's cache)
    outputs = []
    for _ in range(2):
        run = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, env=env, timeout=300)
        assert run.returncode == 0, run.stderr[-2000:]
        assert "text_format" not in run.stderr
        outputs.append(run.stdout.strip())
    assert outputs[0] == outputs[1]
    assert len(list((tmp_path / "xla").rglob("xla_compile_cache__*XLA_CPU_JIT.pb"))) == 1
