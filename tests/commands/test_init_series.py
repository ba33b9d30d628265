"""``rnncli init --x SERIES.csv`` without ``--y``: a windowed next-step forecast config, validated against the
series (a text column such as a date is left out of the inputs)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_init_proposes_a_windowed_series_config(tmp_path: Path) -> None:
    t = np.arange(300)
    rows = ["month,spots,temp"] + [f"2000-{i % 12 + 1:02d},{np.sin(i / 9):.4f},{i % 7}" for i in t]
    (tmp_path / "s.csv").write_text("\n".join(rows) + "\n")
    result = invoke("init", "--x", str(tmp_path / "s.csv"), "--cell", "GRU", "-o", str(tmp_path / "m.yaml"))
    assert result.exit_code == 0, result.output
    doc = yaml.safe_load((tmp_path / "m.yaml").read_text())
    series = doc["data"]["series"]
    assert series["inputs"] == ["spots", "temp"] and series["targets"] == ["temp"]
    assert series["window"] == 15 and series["split"] == {"validation": 0.1, "test": 0.1}
    assert doc["model"]["layers"][0] == {"type": "GRU", "output_dim": 32, "input_shape": [15, 2]}
    assert invoke("validate", str(tmp_path / "m.yaml")).exit_code == 0
    np.save(tmp_path / "a.npy", np.zeros((100, 3), np.float32))
    result = invoke("init", "--x", str(tmp_path / "a.npy"), "-o", str(tmp_path / "n.yaml"))
    assert result.exit_code == 0, result.output
    assert yaml.safe_load((tmp_path / "n.yaml").read_text())["data"]["series"]["inputs"] == [0, 1, 2]
    np.savez(tmp_path / "d.npz", x=np.zeros((4, 2, 1)), y=np.zeros(4))
    result = invoke("init", "--x", str(tmp_path / "d.npz"), "-o", str(tmp_path / "o.yaml"))
    assert result.exit_code == 2 and "--y is needed" in result.output
