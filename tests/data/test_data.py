"""Data loading details not covered by the robustness suite."""

from __future__ import annotations

from pathlib import Path

import pytest


def test_text_vocabulary_option(tmp_path: Path) -> None:
    from rnncli.data.dataset import load_text_windows
    from rnncli.errors import DataError

    (tmp_path / "t.txt").write_text("abcabcabd")
    data = load_text_windows(tmp_path / "t.txt", 3, 1, False, "dcbaxyz")
    assert data.vocab == "dcbaxyz" and data.x.shape == (6, 3, 7) and data.y[0].argmax() == "dcbaxyz".index("a")
    with pytest.raises(DataError, match="not in the model's vocabulary"):
        load_text_windows(tmp_path / "t.txt", 3, 1, False, "abc")
