"""Sequences of different lengths: ``.jsonl`` and ragged CSV padded by ``data.pad`` (against Keras'
``pad_sequences``), length buckets equal to full padding under masking, and the refusals with their hints."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.config.validate import load_config
from rnncli.data.ragged import Padding, bucketed_order, pad_one, ragged_dataset
from rnncli.errors import DataError


def invoke(*args: str):
    return CliRunner().invoke(main, list(args), catch_exceptions=False)


def sequences(n: int = 40, seed: int = 0) -> list[list[int]]:
    rng = np.random.default_rng(seed)
    return [rng.integers(1, 20, size=int(rng.integers(2, 15))).tolist() for _ in range(n)]


def write_jsonl(path: Path, xs: list, ys: list) -> Path:
    path.write_text("".join(json.dumps({"x": x, "y": y}) + "\n" for x, y in zip(xs, ys)))
    return path


def write_config(folder: Path, name: str, layers: list, data: dict, training: dict | None = None) -> Path:
    doc = {"seed": 2, "model": {"layers": layers}, "data": data,
           "training": training or {"loss": "binary_crossentropy", "nb_epoch": 1, "batch_size": 8}}
    path = folder / f"{name}.yaml"
    path.write_text(yaml.safe_dump(doc, sort_keys=False))
    return path


CLASSIFIER = [{"type": "Embedding", "input_dim": 20, "output_dim": 4, "mask_zero": True},
              {"type": "LSTM", "output_dim": 5}, {"type": "Dense", "output_dim": 1, "activation": "sigmoid"}]


@pytest.mark.parametrize("side", ["pre", "post"])
@pytest.mark.parametrize("truncate", ["pre", "post"])
@pytest.mark.parametrize("length", [6, 20])
def test_padding_equals_keras_pad_sequences(side: str, truncate: str, length: int) -> None:
    import keras

    xs = sequences(12)
    expected = keras.utils.pad_sequences(xs, maxlen=length, padding=side, truncating=truncate, value=0)
    ours = np.stack([pad_one(np.asarray(x, np.float64), length, Padding(length, side, truncate)) for x in xs])
    np.testing.assert_array_equal(ours, expected)


def test_buckets_and_padding_sides_give_the_full_padding_results_under_masking(tmp_path: Path) -> None:
    from rnncli.training.loop import Engine

    xs = sequences()
    ys = [int(sum(x) % 2) for x in xs]
    write_jsonl(tmp_path / "d.jsonl", xs, ys)
    full = load_config(write_config(tmp_path, "full", CLASSIFIER, {"train": "d.jsonl", "pad": {"length": "longest"}}))
    engine = Engine(full, jit_compile=False)
    reference = ragged_dataset(tmp_path / "d.jsonl", full)
    assert reference.x.shape == (40, max(len(x) for x in xs))
    expected = engine.predict(reference.x, 8)
    expected_loss = engine.evaluate(reference)["loss"]
    for name, data in (("pre", {"pad": {"side": "pre"}}), ("buckets", {"pad": {"length": "longest"}, "buckets": 3}),
                       ("pre_buckets", {"pad": {"side": "pre", "value": 0}, "buckets": 4})):
        config = load_config(write_config(tmp_path, name, CLASSIFIER, {"train": "d.jsonl", **data}))
        dataset = ragged_dataset(tmp_path / "d.jsonl", config)
        if "buckets" in data:
            order = bucketed_order(dataset.x, np.random.default_rng(0), 8)
            assert sorted(order.tolist()) == list(range(40))
            shapes = [dataset.x[order[i:i + 8]].shape[1] for i in range(0, 40, 8)]
            assert len(set(shapes)) > 1 and max(shapes) == reference.x.shape[1]  # each batch padded to its bucket
            assert set(shapes) <= set(dataset.x.boundaries)
            bucketed = np.concatenate([engine.predict(dataset.x[order[i:i + 8]], 8) for i in range(0, 40, 8)])
            np.testing.assert_allclose(bucketed, expected[order], rtol=1e-5, atol=1e-6)
        np.testing.assert_allclose(engine.predict(dataset.x, 8), expected, rtol=1e-5, atol=1e-6)
        assert engine.evaluate(dataset)["loss"] == pytest.approx(expected_loss, rel=1e-5)


def test_train_predict_on_jsonl_vectors_and_ragged_csv(tmp_path: Path) -> None:
    rng = np.random.default_rng(3)
    xs = [rng.normal(size=(int(rng.integers(3, 9)), 2)).round(3).tolist() for _ in range(24)]
    write_jsonl(tmp_path / "v.jsonl", xs, [float(np.sum(x)) for x in xs])
    layers = [{"type": "Masking", "mask_value": 0.0, "input_shape": [None, 2]}, {"type": "GRU", "output_dim": 3},
              {"type": "Dense", "output_dim": 1}]
    cfg = write_config(tmp_path, "v", layers, {"train": "v.jsonl", "pad": {"length": 10}, "buckets": 2},
                       {"loss": "mse", "nb_epoch": 2, "batch_size": 8})
    result = invoke("train", str(cfg), "-o", str(tmp_path / "run"), "--no-progress")
    assert result.exit_code == 0, result.output
    assert "24 sequences of 3..8 steps padded (post) to 10" in result.output
    result = invoke("predict", str(tmp_path / "run"), "-i", str(tmp_path / "v.jsonl"), "-o", str(tmp_path / "p.npy"))
    assert result.exit_code == 0, result.output
    assert np.load(tmp_path / "p.npy").shape == (24, 1)
    # ragged CSV rows: values, then the target
    rows = [",".join(str(v) for v in x) + f",{x[-1] % 2}" for x in sequences(16)]
    (tmp_path / "r.csv").write_text("\n".join(rows) + "\n")
    config = load_config(write_config(tmp_path, "r", CLASSIFIER, {"train": "r.csv", "pad": {"length": 8}}))
    data = ragged_dataset(tmp_path / "r.csv", config)
    expected = np.stack([pad_one(np.asarray(x, float), 8, Padding(8)) for x in sequences(16)])
    np.testing.assert_array_equal(np.asarray(data.x), expected)
    np.testing.assert_array_equal(data.y[:, 0], [x[-1] % 2 for x in sequences(16)])


def test_refusals_point_at_padding(tmp_path: Path) -> None:
    from rnncli.data.dataset import load_arrays

    np.save(tmp_path / "o.npy", np.array([[1, 2], [3]], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match=r"never loads.*\.jsonl.*data\.pad"):
        load_arrays(tmp_path / "o.npy", need_y=False)
    (tmp_path / "r.csv").write_text("1,2,3,0\n1,2,1\n")
    with pytest.raises(DataError, match=r"r.csv:2: row has 3 columns, the first row has 4; .*set `data.pad`"):
        load_arrays(tmp_path / "r.csv")
    (tmp_path / "d.npz").write_bytes(b"")
    cfg = write_config(tmp_path, "bad", [{**CLASSIFIER[0], "input_length": 12}, *CLASSIFIER[1:]],
                       {"train": "r.csv", "pad": {"length": 10, "sidee": "pre"}, "buckets": 2})
    out = invoke("validate", str(cfg)).output
    assert "unknown key `sidee` for the data.pad section (did you mean `side`?)" in out
    cfg = write_config(tmp_path, "bad2", [{**CLASSIFIER[0], "input_length": 12}, *CLASSIFIER[1:]],
                       {"train": "d.npz", "pad": {"length": 10}, "buckets": 2})
    out = invoke("validate", str(cfg)).output
    assert "bad2.yaml:" in out and "padded sequences come from a `.jsonl`" in out
    assert "fixes 12 timesteps: set them to null" in out
