"""Fast checks of the datasets shipped in datasets/ (no TensorFlow, well under 3 s).

The files are produced by datasets/generate.py; see datasets/README.md for the layouts.
"""
from __future__ import annotations

import importlib.util
import math
import sys
from pathlib import Path

import numpy as np
import pytest

ROOT = Path(__file__).resolve().parents[2]
DATA = ROOT / "datasets"


def _load_generate():
    spec = importlib.util.spec_from_file_location("rnncli_datasets_generate", DATA / "generate.py")
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


gen = _load_generate()

# name -> {key: (shape, dtype)}
LAYOUT = {
    "cosine": {"x": ((50000, 1, 1), np.float32), "y": ((50000, 1), np.float32)},
    "addition": {"x": ((45000, 7, 12), np.uint8), "y": ((45000, 4, 12), np.uint8), "chars": ((12,), np.uint8)},
    "addition_val": {"x": ((5000, 7, 12), np.uint8), "y": ((5000, 4, 12), np.uint8), "chars": ((12,), np.uint8)},
    "digits": {"x": ((1438, 64, 1), np.float32), "y": ((1438, 10), np.float32)},
    "digits_test": {"x": ((359, 64, 1), np.float32), "y": ((359, 10), np.float32)},
    "sunspots": {"x": ((239, 10, 1), np.float32), "y": ((239, 1), np.float32), "year": ((239,), np.int32)},
    "sunspots_val": {"x": ((60, 10, 1), np.float32), "y": ((60, 1), np.float32), "year": ((60,), np.int32)},
    "masked": {"x": ((8000, 40), np.int32), "y": ((8000, 1), np.float32), "lengths": ((8000,), np.int32)},
    "masked_val": {"x": ((2000, 40), np.int32), "y": ((2000, 1), np.float32), "lengths": ((2000,), np.int32)},
}

# recorded in datasets/README.md
SUNSPOTS_NAIVE_VAL_MSE = 0.108228
SUNSPOTS_NAIVE_VAL_MAE = 0.250533

_cache: dict[str, dict[str, np.ndarray]] = {}


def load(name):
    if name not in _cache:
        with np.load(DATA / (name + ".npz"), allow_pickle=False) as f:
            _cache[name] = {k: f[k] for k in f.files}
    return _cache[name]


def assert_same(generated, names):
    for name in names:
        shipped = load(name)
        arrays = generated[name]
        assert set(arrays) == set(shipped), name
        for k, v in arrays.items():
            assert v.dtype == shipped[k].dtype, (name, k)
            assert v.shape == shipped[k].shape, (name, k)
            assert np.array_equal(v, shipped[k]), (name, k)


# ------------------------------------------------------------------------- layout / sizes
@pytest.mark.parametrize("name", sorted(LAYOUT))
def test_layout(name):
    arrays = load(name)
    assert set(arrays) == set(LAYOUT[name])
    for key, (shape, dtype) in LAYOUT[name].items():
        assert arrays[key].shape == shape, (name, key)
        assert arrays[key].dtype == dtype, (name, key)
        assert arrays[key].dtype != object
    x = arrays["x"]
    if x.dtype.kind == "f":
        assert np.isfinite(x).all()


def test_sizes():
    shipped = [p for p in DATA.iterdir() if p.suffix in (".npz", ".txt", ".csv")]
    names = {p.name for p in shipped}
    assert {n + ".npz" for n in LAYOUT} <= names
    assert {"char_corpus.txt", "sunspots.csv"} <= names
    for p in shipped:
        assert p.stat().st_size < 2 * 1024 * 1024, p.name
    assert sum(p.stat().st_size for p in shipped) < 8 * 1024 * 1024


# ------------------------------------------------------------------------- cosine
def test_cosine_formula():
    d = load("cosine")
    x, y = d["x"][:, 0, 0], d["y"][:, 0]
    i = np.arange(50000, dtype=np.float64)
    ref = 100.0 * np.cos(2 * np.pi * i / 1000) * np.exp(-0.0001 * i)
    np.testing.assert_allclose(x, ref, rtol=1e-6, atol=1e-5)
    for j in (0, 1, 250, 1000, 12345, 49999):
        assert x[j] == np.float32(100 * math.cos(2 * math.pi * j / 1000) * math.exp(-0.0001 * j))
    assert x[0] == 100.0
    # lahead = 1: y[i] = cos[i+1]; the last target stays 0 as in Keras 1
    assert np.array_equal(y[:-1], x[1:])
    assert y[-1] == 0.0


def test_cosine_reproducible():
    assert_same(gen.gen_cosine(), ["cosine"])


# ------------------------------------------------------------------------- addition
def test_addition_onehot_and_charset():
    for name in ("addition", "addition_val"):
        d = load(name)
        assert bytes(d["chars"]).decode("ascii") == "0123456789+ "
        assert d["x"].max() == 1 and d["y"].max() == 1
        assert (d["x"].sum(axis=-1) == 1).all()
        assert (d["y"].sum(axis=-1) == 1).all()


def _digits_value(idx, start, stop):
    """Vectorised: decimal value of idx[r, start[r]:stop[r]] (entries are digit indices 0..9)."""
    k = np.arange(idx.shape[1])[None, :]
    inside = (k >= start[:, None]) & (k < stop[:, None])
    expo = np.where(inside, stop[:, None] - 1 - k, 0)
    return np.where(inside, idx * 10 ** expo, 0).sum(axis=1)


def test_addition_decodes_to_correct_sums():
    """Every row (vectorised): reversed question 'a+b' + spaces, answer str(a+b) + spaces."""
    keys = []
    for name in ("addition", "addition_val"):
        d = load(name)
        assert bytes(d["chars"]).decode("ascii") == "0123456789+ "  # index 10 '+', 11 ' '
        fwd = d["x"].argmax(axis=-1)[:, ::-1]  # undo INVERT
        ans = d["y"].argmax(axis=-1)
        n = len(fwd)
        assert ((fwd == 10).sum(axis=1) == 1).all()
        plus = (fwd == 10).argmax(axis=1)
        end = 7 - (fwd == 11).sum(axis=1)
        assert np.array_equal(fwd == 11, np.arange(7)[None, :] >= end[:, None])  # trailing pad only
        la, lb = plus, end - plus - 1
        assert la.min() >= 1 and la.max() <= 3 and lb.min() >= 1 and lb.max() <= 3
        a = _digits_value(fwd, np.zeros(n, int), plus)
        b = _digits_value(fwd, plus + 1, end)
        # printed without leading zeros: str(int) has exactly la / lb digits
        assert np.array_equal(la, np.char.str_len(a.astype(str)))
        assert np.array_equal(lb, np.char.str_len(b.astype(str)))
        aend = 4 - (ans == 11).sum(axis=1)
        assert np.array_equal(ans == 11, np.arange(4)[None, :] >= aend[:, None])
        assert not (ans == 10).any()
        total = _digits_value(ans, np.zeros(n, int), aend)
        assert np.array_equal(total, a + b)
        assert np.array_equal(aend, np.char.str_len((a + b).astype(str)))
        keys.append(np.minimum(a, b) * 1000 + np.maximum(a, b))
    keys = np.concatenate(keys)
    assert len(np.unique(keys)) == 50000  # unique up to commutation; train and val disjoint


def test_addition_string_decoding():
    """A sample of rows decoded to text with the stored charset, the way predict will."""
    for name in ("addition", "addition_val"):
        d = load(name)
        chars = bytes(d["chars"]).decode("ascii")
        for r in range(0, len(d["x"]), 97):
            q = gen.decode_onehot(d["x"][r], chars)
            a = gen.decode_onehot(d["y"][r], chars)
            assert len(q) == 7 and len(a) == 4
            expr = q[::-1].rstrip(" ")
            assert q[::-1] == expr.ljust(7)
            sa, sb = expr.split("+")
            assert str(int(sa)) == sa and str(int(sb)) == sb
            assert a == str(int(sa) + int(sb)).ljust(4)
            assert (q, a) == gen.encode_addition_str(int(sa), int(sb))


def test_addition_reproducible():
    assert_same(gen.gen_addition(), ["addition", "addition_val"])


# ------------------------------------------------------------------------- char corpus
def test_char_corpus():
    path = DATA / "char_corpus.txt"
    raw = path.read_bytes()
    assert len(raw) <= 300 * 1024
    text = raw.decode("ascii")
    assert len(text) >= 100_000
    assert "\r" not in text and "\t" not in text
    assert text.startswith('"""Text wrapping and filling.')
    assert any(c.isupper() for c in text)  # case kept
    if tuple(sys.version_info[:3]) == gen.CORPUS_PYTHON:
        assert gen.build_char_corpus() == text


# ------------------------------------------------------------------------- digits
def _sklearn_digits_csv():
    spec = importlib.util.find_spec("sklearn")  # locates without importing sklearn
    if spec is None or not spec.submodule_search_locations:
        return None
    p = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "data" / "digits.csv.gz"
    return p if p.exists() else None


def test_digits_values_and_labels():
    counts = []
    for name in ("digits", "digits_test"):
        d = load(name)
        x, y = d["x"], d["y"]
        assert x.min() >= 0.0 and x.max() <= 1.0
        assert np.array_equal(x * 16, np.round(x * 16))  # pixel values k/16
        assert set(np.unique(y)) == {0.0, 1.0}
        assert (y.sum(axis=1) == 1).all()
        labels = y.argmax(axis=1)
        assert labels.min() == 0 and labels.max() == 9
        counts.append(np.bincount(labels, minlength=10))
    train, test = counts
    assert train.sum() + test.sum() == 1797
    frac = test / (train + test)
    assert (abs(frac - 0.2) < 0.01).all()  # stratified


def test_digits_reproducible():
    csv = _sklearn_digits_csv()
    assert csv is not None, "scikit-learn (test extra) must be installed: its digits.csv.gz is the reference"
    data = np.loadtxt(csv, delimiter=",")  # what sklearn.datasets.load_digits() reads
    images = data[:, :-1].reshape(-1, 8, 8)
    target = data[:, -1].astype(int)
    assert_same(gen.make_digits(images, target), ["digits", "digits_test"])


# ------------------------------------------------------------------------- sunspots
def test_sunspots_windows_match_csv():
    years, values = gen.read_sunspots_csv(DATA / "sunspots.csv")
    assert len(years) == 309 and years[0] == 1700 and years[-1] == 2008
    assert np.array_equal(years, np.arange(1700, 2009))
    tr, va = load("sunspots"), load("sunspots_val")
    x = np.concatenate([tr["x"], va["x"]])[:, :, 0]
    y = np.concatenate([tr["y"], va["y"]])[:, 0]
    yr = np.concatenate([tr["year"], va["year"]])
    for i in (0, 1, 100, 238, 239, 298):
        assert np.array_equal(x[i], (values[i:i + 10] / 100).astype(np.float32))
        assert y[i] == np.float32(values[i + 10] / 100)
        assert yr[i] == years[i + 10]
    assert va["year"][0] == 1949 and va["year"][-1] == 2008  # last 20 % by time
    assert np.all(np.diff(yr) == 1)
    assert_same(gen.make_sunspots(years, values), ["sunspots", "sunspots_val"])


def test_sunspots_csv_matches_statsmodels_copy():
    spec = importlib.util.find_spec("statsmodels")
    assert spec is not None and spec.submodule_search_locations, "statsmodels (test extra) must be installed"
    src = Path(list(spec.submodule_search_locations)[0]) / "datasets" / "sunspots" / "sunspots.csv"
    assert src.exists(), f"statsmodels ships no {src}"
    ref = np.loadtxt(src, delimiter=",", skiprows=1)
    years, values = gen.read_sunspots_csv(DATA / "sunspots.csv")
    assert np.array_equal(ref[:, 0], years) and np.array_equal(ref[:, 1], values)


def test_sunspots_naive_baseline():
    b = gen.sunspots_baselines(load("sunspots_val"))
    assert b["mse"] == pytest.approx(SUNSPOTS_NAIVE_VAL_MSE, abs=1e-6)
    assert b["mae"] == pytest.approx(SUNSPOTS_NAIVE_VAL_MAE, abs=1e-6)


# ------------------------------------------------------------------------- masked
def test_masked_structure_and_rule():
    for name in ("masked", "masked_val"):
        d = load(name)
        x, y, lengths = d["x"], d["y"][:, 0], d["lengths"]
        assert x.min() == 0 and x.max() == 19
        assert lengths.min() == 5 and lengths.max() == 30
        nonzero = x != 0
        assert np.array_equal(nonzero.sum(axis=1), lengths)
        # pre-padding: zeros first, then only real tokens (no 0 inside a sequence)
        pos = np.arange(40)[None, :]
        assert np.array_equal(nonzero, pos >= 40 - lengths[:, None])
        c1, c2 = (x == 1).sum(axis=1), (x == 2).sum(axis=1)
        assert (c1 != c2).all()  # no ties
        assert np.array_equal(y, (c1 > c2).astype(np.float32))
        for row, label in zip(x[:50], y[:50]):
            assert gen.masked_label(row) == label
        assert 0.4 < y.mean() < 0.6


def test_masked_reproducible():
    assert_same(gen.gen_masked(), ["masked", "masked_val"])
