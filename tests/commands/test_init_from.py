"""``rnncli train --init-from RUN[:latest|best]``: weights by layer name and shape, one line per mismatch, frozen
layers, the record in run.json; and the note for a new run from another run's config (issue 30 item 14)."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def config(folder: Path, name: str, units: int = 4, head: str = "head", trainable: bool = True, lr: float = 0.01
           ) -> Path:
    layers = [{"type": "LSTM", "name": "rnn", "output_dim": units, "input_shape": [5, 2], "trainable": trainable},
              {"type": "Dense", "name": head, "output_dim": 1}]
    doc = {"seed": 7 if name == "a" else 11, "model": {"layers": layers}, "data": {"train": "d.npz"},
           "training": {"loss": "mse", "nb_epoch": 1, "batch_size": 8, "optimizer": {"name": "sgd", "lr": lr}}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


@pytest.fixture(scope="module")
def source_run(tmp_path_factory) -> Path:
    folder = tmp_path_factory.mktemp("init_from")
    rng = np.random.default_rng(0)
    np.savez(folder / "d.npz", x=rng.normal(size=(24, 5, 2)).astype(np.float32),
             y=rng.normal(size=(24, 1)).astype(np.float32))
    assert invoke("train", str(config(folder, "a")), "-o", str(folder / "a_run"), "--no-progress").exit_code == 0
    return folder / "a_run"


def test_init_from_reproduces_the_source_predictions(source_run: Path) -> None:
    from rnncli.commands.init_from import init_from
    from rnncli.commands.source import load_source
    from rnncli.config.validate import load_config
    from rnncli.training.loop import Engine

    folder = source_run.parent
    x = np.random.default_rng(1).normal(size=(6, 5, 2)).astype(np.float32)
    expected = load_source(source_run).engine.predict(x, 8)
    engine = Engine(load_config(config(folder, "b")), jit_compile=False)
    assert not np.allclose(engine.predict(x, 8), expected)  # a different seed: different random weights
    notes, record = init_from(engine, f"{source_run}:latest", "cpu")
    # the same weights (the two engines may differ in XLA use: float32 rounding only)
    np.testing.assert_allclose(engine.predict(x, 8), expected, rtol=1e-5, atol=1e-6 * np.abs(expected).max())
    assert record["loaded"] == ["rnn", "head"] and "loaded rnn, head" in notes[0]


def test_init_from_cli_records_the_start_and_freezes(source_run: Path) -> None:
    import tensorflow as tf

    folder = source_run.parent
    result = invoke("train", str(config(folder, "c", head="new_head", trainable=False)), "-o",
                    str(folder / "c_run"), "--init-from", f"{source_run}:best", "--no-progress")
    assert result.exit_code == 0, result.output
    assert "loaded rnn; initialised afresh: new_head; frozen (trainable: false): rnn" in result.output
    info = json.loads((folder / "c_run" / "run.json").read_text())
    assert info["init_from"]["run"] == str(source_run.resolve()) and info["init_from"]["checkpoint"] == "best"

    def rnn_weights(run: Path) -> dict:
        reader = tf.train.load_checkpoint(str(run / "checkpoints"))
        return {k: reader.get_tensor(k) for k in reader.get_variable_to_shape_map()
                if k.startswith("model/layers/0/") and "state" not in k}  # layer 0: `rnn`

    before, after = rnn_weights(source_run), rnn_weights(folder / "c_run")
    assert before and before.keys() == after.keys()
    for key in before:  # frozen: the loaded weights did not move in training
        np.testing.assert_array_equal(before[key], after[key])


def test_init_from_refuses_mismatches_one_line_each(source_run: Path) -> None:
    folder = source_run.parent
    result = invoke("train", str(config(folder, "d", units=6)), "-o", str(folder / "d_run"), "--init-from",
                    str(source_run))
    assert result.exit_code == 2
    lines = [line for line in result.output.splitlines() if line.startswith("layer `rnn`: weight")]
    assert len(lines) == 3 and "is (2, 24) here but (2, 16) in" in lines[0]
    assert not (folder / "d_run" / "run.json").exists()
    result = invoke("train", str(config(folder, "e")), "-o", str(folder / "e_run"), "--init-from", "nowhere")
    assert result.exit_code == 2 and "not a run directory" in result.output
    result = invoke("train", str(config(folder, "e")), "-o", str(source_run), "--resume", "--init-from",
                    str(source_run))
    assert result.exit_code == 2 and "use one of them" in result.output


def test_training_another_runs_config_says_it_starts_from_random_weights(source_run: Path) -> None:
    folder = source_run.parent
    result = invoke("train", str(source_run / "config.yaml"), "-o", str(folder / "f_run"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "this new run starts from random weights" in result.output
    assert f"--init-from {source_run.resolve()}" in result.output
