"""Native bfloat16 detection, the refusal on CPUs without it, and the precision settings (no TensorFlow needed)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rnncli.errors import UserInputError
from rnncli.platform import precision
from rnncli.platform.precision import (OVERRIDE_ENV, PrecisionError, PrecisionUnsupported, check_precision,
                                       native_bfloat16, parse_precision)

ZEN4 = "processor\t: 0\nflags\t\t: fpu sse2 avx2 avx512f avx512_bf16 avx512vl\n\nprocessor\t: 1\nflags\t\t: fpu\n"
SAPPHIRE = "flags\t\t: fpu avx512f amx_bf16 amx_tile avx512_bf16\n"
SKYLAKE = "flags\t\t: fpu sse2 avx2 avx512f avx512bw avx512vl\n"


def _cpuinfo(tmp_path: Path, text: str) -> str:
    path = tmp_path / "cpuinfo"
    path.write_text(text)
    return str(path)


@pytest.mark.parametrize("text,flags", [(ZEN4, ("avx512_bf16",)), (SAPPHIRE, ("avx512_bf16", "amx_bf16")),
                                        (SKYLAKE, ())])
def test_flags_from_cpuinfo(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, text: str, flags: tuple) -> None:
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    support = native_bfloat16(_cpuinfo(tmp_path, text))
    assert support.flags == flags and support.native == bool(flags)
    assert support.describe().startswith("native" if flags else "not native")


def test_missing_cpuinfo_is_not_native(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    assert not native_bfloat16(str(tmp_path / "absent")).native


def test_environment_override_wins(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, "0")
    assert not native_bfloat16(_cpuinfo(tmp_path, SAPPHIRE)).native
    monkeypatch.setenv(OVERRIDE_ENV, "1")
    assert native_bfloat16(_cpuinfo(tmp_path, SKYLAKE)).native


def test_mixed_bfloat16_refused_without_native_support(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv(OVERRIDE_ENV, raising=False)
    monkeypatch.setattr(precision, "_CPUINFO", _cpuinfo(tmp_path, SKYLAKE))
    with pytest.raises(PrecisionUnsupported) as raised:
        check_precision("mixed_bfloat16", "/CPU:0")
    message = str(raised.value)
    assert "\n" not in message and "no avx512_bf16 or amx_bf16" in message and "--precision float32" in message
    assert raised.value.exit_code == 1
    assert check_precision("float32", "/CPU:0") == "float32"  # float32 runs anywhere
    assert check_precision("mixed_bfloat16", "/GPU:0") == "mixed_bfloat16"  # the CPU flags do not decide for GPUs


def test_mixed_bfloat16_accepted_with_native_support(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv(OVERRIDE_ENV, "1")
    assert check_precision("mixed_bfloat16", "/CPU:0") == "mixed_bfloat16"
    with pytest.raises(PrecisionError, match="exclude each other"):
        check_precision("mixed_bfloat16", "/CPU:0", float16=True)


def test_unknown_precision_is_a_user_error() -> None:
    with pytest.raises(UserInputError, match="expected float32 or mixed_bfloat16"):
        parse_precision("bf16")
    assert parse_precision(" Float32 ") == "float32"
