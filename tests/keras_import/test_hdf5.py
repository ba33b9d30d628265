"""Keras 1 HDF5 files: the real DL4J full-model files, fused-layout and broken files written like Keras 1.2.2."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.errors import UserInputError
from rnncli.documents.keras_hdf5 import Keras1FileError, read_keras1_h5


def _file_layers(path: Path) -> list[tuple[str, list[np.ndarray]]]:
    import h5py

    with h5py.File(path, "r") as f:
        group = f["model_weights"]
        out = []
        for name in group.attrs["layer_names"]:
            names = group[name].attrs["weight_names"]
            if len(names):
                out.append((name.decode(), [group[name][n][()] for n in names]))
        return out


def _expected_fused(kind: str, arrays: list[np.ndarray], k1) -> list[np.ndarray]:
    if kind == "Bidirectional":
        half = len(arrays) // 2
        return k1.fuse("LSTM", arrays[:half]) + k1.fuse("LSTM", arrays[half:])
    if len(arrays) == 12:
        return k1.fuse("LSTM", arrays)
    return arrays


DL4J = ["keras-simple__lstm_tf_model.h5"] + [f"weights__{m}_{b}_1.h5" for m in (
    "lstm", "simple_rnn", "embedding_lstm", "bidirectional_lstm", "bidirectional_lstm_no_return_sequences")
    for b in ("tensorflow", "theano")]


@pytest.mark.parametrize("name", DL4J)
def test_every_dl4j_file_imports_with_the_files_arrays(tmp_path: Path, k1, name: str) -> None:
    """`rnncli import` of each file; the run's checkpoint, restored, holds exactly the file's arrays."""
    from rnncli.commands.keras_apply import get_layer_weights
    from rnncli.commands.keras_import import import_keras1
    from rnncli.commands.source import load_source

    path = k1.fixtures / name
    result = import_keras1(path, tmp_path / "run")
    loaded = load_source(tmp_path / "run", device_spec="cpu")
    config, model = loaded.config, loaded.engine.model
    assert result.training["loss"] in ("mse", "categorical_crossentropy")
    assert config.training["optimizer"]["name"] in ("adam", "rmsprop")
    by_name = {layer.layer_name: layer for layer in model.layers}
    file_layers = _file_layers(path)
    assert file_layers
    for layer_name, arrays in file_layers:
        built = by_name[layer_name]
        got = get_layer_weights(built)
        want = _expected_fused(built.config["type"], arrays, k1)
        assert len(got) == len(want)
        for g, w in zip(got, want):
            np.testing.assert_array_equal(g, w)
    source = read_keras1_h5(path)
    assert source.backend == ("theano" if "theano" in name else "tensorflow")


def test_backends_give_the_same_model(k1) -> None:
    from rnncli.commands.keras_import import build_imported_model

    x = np.random.default_rng(0).normal(size=(2, 4, 10)).astype(np.float32)
    outputs = []
    for backend in ("tensorflow", "theano"):
        _, model = build_imported_model(k1.fixtures / f"weights__bidirectional_lstm_{backend}_1.h5")
        outputs.append(model(x)[0].numpy())
    assert outputs[0].shape == (2, 4, 20)


def _lstm_arrays(rng: np.random.Generator, d: int = 3, u: int = 4) -> list[np.ndarray]:
    return [rng.normal(size=s).astype(np.float32) for _ in range(4) for s in ((d, u), (u, u), (u,))]


def _lstm_doc(k1, consume_less: str = "cpu") -> dict:
    return k1.sequential({"class_name": "LSTM", "config": {
        "name": "lstm_1", "output_dim": 4, "batch_input_shape": [None, 5, 3], "return_sequences": True,
        "consume_less": consume_less, "input_dtype": "float32"}}, {"class_name": "Dense", "config": {
            "name": "dense_1", "output_dim": 2, "W_constraint": None, "activity_regularizer": None}})


def test_fused_gpu_layout_file_equals_per_gate_file(tmp_path: Path, k1) -> None:
    from rnncli.commands.keras_import import build_imported_model

    rng = np.random.default_rng(1)
    per_gate = _lstm_arrays(rng)
    dense = [rng.normal(size=(4, 2)).astype(np.float32), rng.normal(size=(2,)).astype(np.float32)]
    gates = ["i", "c", "f", "o"]
    cpu = k1.write_full_model(tmp_path / "cpu.h5", _lstm_doc(k1, "cpu"), [
        ("lstm_1", [(f"lstm_1_{p}_{g}", a) for (g, p), a in zip([(g, p) for g in gates for p in "WUb"], per_gate)]),
        ("dense_1", [("dense_1_W", dense[0]), ("dense_1_b", dense[1])])])
    gpu = k1.write_full_model(tmp_path / "gpu.h5", _lstm_doc(k1, "gpu"), [
        ("lstm_1", [(f"lstm_1_{p}:0", a) for p, a in zip("WUb", k1.fuse("LSTM", per_gate))]),
        ("dense_1", [("dense_1_W:0", dense[0]), ("dense_1_b:0", dense[1])])])
    x = rng.normal(size=(2, 5, 3)).astype(np.float32)
    y_cpu = build_imported_model(cpu)[1](x)[0].numpy()
    for mode in ("cpu", "mem", "gpu"):
        _, model = build_imported_model(gpu, overrides=[f"model.config.0.config.consume_less={mode}"])
        np.testing.assert_allclose(model(x)[0].numpy(), y_cpu, atol=1e-6)


def _broken(tmp_path: Path, k1, kind: str) -> Path:
    rng = np.random.default_rng(2)
    arrays = _lstm_arrays(rng)
    names = [f"lstm_1_{p}_{g}:0" for g in "icfo" for p in "WUb"]
    dense = [("dense_1_W:0", np.zeros((4, 2), np.float32)), ("dense_1_b:0", np.zeros(2, np.float32))]
    layers = [("lstm_1", list(zip(names, arrays))), ("dense_1", dense)]
    path = tmp_path / f"{kind}.h5"
    if kind == "wrong_shape":
        layers[1] = ("dense_1", [dense[0], ("dense_1_b:0", np.zeros(3, np.float32))])
    elif kind == "wrong_count":
        layers[0] = ("lstm_1", list(zip(names, arrays))[:11])
    elif kind == "wrong_layers":
        layers.append(("dense_2", dense))
    elif kind == "not_hdf5":
        path.write_bytes(b"PK\x03\x04 this is a zip, not HDF5")
        return path
    k1.write_full_model(path, _lstm_doc(k1), layers)
    if kind == "missing_group":
        import h5py

        with h5py.File(path, "a") as f:
            del f["model_weights"]
    elif kind == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 2])
    return path


@pytest.mark.parametrize("kind, message", [
    ("wrong_shape", r"layer `dense_1` \(Dense\): array 1 `dense_1_b:0` of the file's layer `dense_1` has shape \(3\), "
                    r"the model expects \(2\)"),
    ("wrong_count", r"layer `lstm_1` \(LSTM\) expects 3 or 12 arrays, the file's layer `lstm_1` has 11"),
    ("wrong_layers", r"holds weights for 3 layer\(s\) \(lstm_1, dense_1, dense_2\), the model has 2"),
    ("not_hdf5", r"not an HDF5 file"),
    ("missing_group", r"neither a `model_weights` group"),
    ("truncated", r"cannot read this HDF5 file \(truncated or damaged\?\)"),
])
def test_broken_files_get_a_clear_error_and_exit_2(tmp_path: Path, k1, kind: str, message: str) -> None:
    from rnncli.commands.keras_import import build_imported_model

    path = _broken(tmp_path, k1, kind)
    source, weights = path, None
    if kind in ("not_hdf5", "truncated", "missing_group"):
        source = tmp_path / "model.json"
        source.write_text(json.dumps(_lstm_doc(k1)))
        weights = path
    with pytest.raises(UserInputError, match=message) as info:
        build_imported_model(source, weights)
    assert info.value.exit_code == 2
    result = CliRunner().invoke(main, ["import", str(source), "-o", str(tmp_path / "run")]
                                + (["--weights", str(weights)] if weights else []))
    assert result.exit_code == 2, result.output
    assert "Traceback" not in result.output and not (tmp_path / "run").exists()


def test_weights_only_file_as_source_is_explained(tmp_path: Path, k1) -> None:
    path = k1.write_weights_file(tmp_path / "w.h5", [("lstm_1", [("lstm_1_W", np.zeros((3, 4), np.float32))])])
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert "holds weights only" in result.output and "--weights" in result.output


def test_h5_file_in_a_config_weights_key(tmp_path: Path, k1) -> None:
    """`weights:` of an rnncli config accepts a Keras 1 .h5: the group named like the layer."""
    from rnncli.config.validate import load_config
    from rnncli.model import Sequential

    rng = np.random.default_rng(3)
    arrays = _lstm_arrays(rng)
    names = [f"lstm_1_{p}_{g}" for g in "icfo" for p in "WUb"]
    k1.write_weights_file(tmp_path / "w.h5", [("lstm_1", list(zip(names, arrays))), ("other", [])])
    config_path = tmp_path / "c.yaml"
    config_path.write_text("model:\n  layers:\n    - {type: LSTM, output_dim: 4, input_shape: [5, 3], weights: w.h5}\n")
    model = Sequential(load_config(config_path).model)
    np.testing.assert_array_equal(model.layers[0].kernel.numpy(), k1.fuse("LSTM", arrays)[0])
    config_path.write_text("model:\n  layers:\n    - {type: LSTM, output_dim: 5, input_shape: [5, 3], weights: w.h5}\n")
    with pytest.raises(UserInputError, match=r"weights: layer `lstm_1` expects 3 or 12 arrays|array 0 has shape"):
        load_config(config_path)


def test_theano_convolution_kernels_are_unflipped(tmp_path: Path, k1) -> None:
    """Theano's conv2d is a true convolution (the kernel flipped), TensorFlow's a cross-correlation: the same model
    saved under each backend holds reversed kernels, and both must compute the same function."""
    from rnncli.commands.keras_import import build_imported_model

    rng = np.random.default_rng(5)
    kernel = rng.normal(size=(3, 1, 3, 2)).astype(np.float32)  # Keras 1.1+ layout (L, 1, D, F)
    bias = rng.normal(size=2).astype(np.float32)
    doc = k1.sequential(
        {"class_name": "Convolution1D", "config": {
            "name": "convolution1d_1", "nb_filter": 2, "filter_length": 3, "init": "glorot_uniform",
            "activation": "linear", "border_mode": "valid", "subsample_length": 1, "W_regularizer": None,
            "b_regularizer": None, "activity_regularizer": None, "W_constraint": None, "b_constraint": None,
            "bias": True, "input_dim": 3, "input_length": 6, "batch_input_shape": [None, 6, 3]}},
        {"class_name": "GlobalMaxPooling1D", "config": {"name": "globalmaxpooling1d_1", "trainable": True}})
    tf_file = k1.write_full_model(tmp_path / "tf.h5", doc, [
        ("convolution1d_1", [("convolution1d_1_W:0", kernel), ("convolution1d_1_b:0", bias)]),
        ("globalmaxpooling1d_1", [])])
    th_file = k1.write_full_model(tmp_path / "th.h5", doc, [
        ("convolution1d_1", [("convolution1d_1_W", kernel[::-1].copy()), ("convolution1d_1_b", bias)]),
        ("globalmaxpooling1d_1", [])])
    keras10 = np.transpose(kernel[:, 0], (2, 1, 0))[..., None]  # Keras 1.0.x stored (F, D, L, 1)
    k10_file = k1.write_full_model(tmp_path / "k10.h5", doc, [
        ("convolution1d_1", [("convolution1d_1_W:0", keras10), ("convolution1d_1_b:0", bias)]),
        ("globalmaxpooling1d_1", [])], keras_version="1.0.4")
    x = rng.normal(size=(2, 6, 3)).astype(np.float32)
    reference = np.stack([np.einsum("bld,ldf->bf", x[:, t:t + 3], kernel[:, 0]) + bias for t in range(4)], 1).max(1)
    for path in (tf_file, th_file, k10_file):
        _, model = build_imported_model(path)
        np.testing.assert_allclose(model(x)[0].numpy(), reference, atol=1e-5)


def test_refusal_inside_a_full_model_file_names_the_file(tmp_path: Path, k1) -> None:
    doc = k1.sequential({"class_name": "Lambda", "config": {"name": "lambda_1", "function": "gANjX19tYWlu"}})
    path = k1.write_full_model(tmp_path / "model.h5", doc, [("lambda_1", [])])
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "run")])
    assert result.exit_code == 2
    assert result.output.strip().splitlines()[-1] == (
        f"{path} (model_config): error: layer `lambda_1` (Lambda) holds Python code (a serialised function), which "
        f"rnncli never runs")


def test_an_h5_given_where_a_config_is_expected_points_to_import(k1) -> None:
    path = k1.fixtures / "weights__lstm_tensorflow_1.h5"
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 2 and f"import it first: rnncli import {path} -o RUN" in result.output
