"""A run after training: it outlives its data, refused outputs leave the states alone, export refuses to overwrite."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
from click.testing import CliRunner

from rnncli.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def test_run_outlives_its_data_and_bad_outputs_do_not_move_states(stateful: Path, regression: Path,
                                                                 tmp_path: Path) -> None:
    run = tmp_path / "srun"
    assert invoke("train", str(stateful), "-o", str(run), "--epochs", "1").exit_code == 0
    x = np.load(tmp_path / "x.npy")
    np.save(tmp_path / "in.npy", x[:4])
    shutil.move(tmp_path / "stream.npz", tmp_path / "moved.npz")  # the training data is gone
    shown = invoke("states", str(run))
    assert shown.exit_code == 0, shown.output
    steps_before = shown.output
    bad = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "--output", str(tmp_path / "out.txt"))
    assert bad.exit_code == 2 and ".npy or .csv" in bad.output
    not_a_folder = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "-o",
                          str(tmp_path / "in.npy" / "o.npy"))
    assert not_a_folder.exit_code == 2 and "is not a folder" in not_a_folder.output
    assert invoke("states", str(run)).output == steps_before
    best = invoke("predict", str(run), "--input", str(tmp_path / "in.npy"), "--checkpoint", "best")
    assert best.exit_code == 0 and "states not saved" in best.output
    assert invoke("states", str(run)).output == steps_before
    exported = tmp_path / "exported"
    exported.mkdir()
    (exported / "keep.txt").write_text("x")
    refused = invoke("export", str(run), "-o", str(exported))
    assert refused.exit_code == 2 and "--force" in refused.output
