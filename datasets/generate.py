#!/usr/bin/env python
"""(Re)create the datasets shipped in ``datasets/``.

Usage::

    python datasets/generate.py                 # every dataset
    python datasets/generate.py addition masked # only these
    python datasets/generate.py --check         # regenerate in memory, compare with the shipped files

Every generator is deterministic (fixed seeds, ``numpy.random.RandomState``, whose
streams numpy guarantees to keep stable across versions), so running the script twice
gives identical arrays. A ``.npz`` whose arrays are already identical is not rewritten,
so a rerun leaves the committed files untouched.

File contract (read by the trainer's loader): ``np.savez_compressed(path, x=..., y=...)``,
no object arrays (``np.load(path, allow_pickle=False)`` works). Some files carry extra
arrays (``chars``, ``lengths``, ``year``) for decoding and tests; the loader only needs
``x`` and ``y``. See ``datasets/README.md`` for the full description of each file.

``char_corpus.txt`` is built from Python standard-library sources, whose text differs
between Python releases. It is regenerated only under the Python release that produced
the shipped file (``CORPUS_PYTHON``), or with ``--force``.

Only numpy is needed, plus scikit-learn (``digits``) and statsmodels (``sunspots``) for
the two exported datasets. No network access.
"""
from __future__ import annotations

import argparse
import math
import os
import sys
import sysconfig
import tempfile
from pathlib import Path

import numpy as np

HERE = Path(__file__).resolve().parent

# ----------------------------------------------------------------------------------------
# constants (documented in datasets/README.md)
# ----------------------------------------------------------------------------------------
SEED_ADDITION = 1337
SEED_DIGITS = 2024
SEED_MASKED = 4242

# addition (Keras 1 examples/addition_rnn.py)
ADDITION_SIZE = 50000
ADDITION_DIGITS = 3
ADDITION_MAXLEN = ADDITION_DIGITS + 1 + ADDITION_DIGITS  # 7
ADDITION_ANSLEN = ADDITION_DIGITS + 1  # 4
ADDITION_CHARS = "0123456789+ "  # one-hot index order (index 10 = '+', 11 = ' ')
ADDITION_INVERT = True

# char corpus
CORPUS_PYTHON = (3, 11, 7)
CORPUS_MODULES = ("textwrap", "string", "difflib", "pprint", "contextlib", "random")

# sunspots
SUNSPOTS_WINDOW = 10
SUNSPOTS_SCALE = 100.0
SUNSPOTS_VAL_FRACTION = 0.2

# masked
MASKED_MAXLEN = 40
MASKED_MIN_LEN = 5
MASKED_MAX_LEN = 30
MASKED_VOCAB = 20  # token ids 0..19, 0 = padding
MASKED_P_ONE = 0.15  # probability of token 1 at a real position
MASKED_P_TWO = 0.15  # probability of token 2 at a real position
MASKED_N_TRAIN = 8000
MASKED_N_VAL = 2000


# ----------------------------------------------------------------------------------------
# cosine
# ----------------------------------------------------------------------------------------
def gen_cosine(amp=100.0, period=1000, x0=0, xn=50000, step=1, k=0.0001, lahead=1):
    """Keras 1.2.2 ``examples/stateful_lstm.py`` data -> ``{'cosine': {'x', 'y'}}``.

    ``cos[i] = amp * cos(2*pi*idx/period) * exp(-k*idx)`` with ``idx = x0 + i*step`` for
    ``i in range((xn - x0) * step)``, computed in float64 exactly in the script's order
    (Python's ``math`` functions instead of ``np.cos``/``np.exp`` on scalars, so the result
    does not depend on numpy's SIMD dispatch), then stored as float32.

    ``x`` has shape (50000, 1, 1). ``y[i] = mean(cos[i+1 : i+lahead+1])`` for
    ``i < len - lahead``; like the original (which starts from ``np.zeros``), the last
    ``lahead`` targets stay 0. ``y`` has shape (50000, 1).
    """
    n = (xn - x0) * step
    cos = np.zeros(n, dtype=np.float64)
    for i in range(n):
        idx = x0 + i * step
        v = amp * math.cos(2 * math.pi * idx / period)
        cos[i] = v * math.exp(-k * idx)
    expected = np.zeros(n, dtype=np.float64)
    # == `for i in range(n - lahead): expected[i] = np.mean(cos[i + 1:i + lahead + 1])`
    windows = np.lib.stride_tricks.sliding_window_view(cos[1:], lahead)
    expected[:n - lahead] = windows.mean(axis=1)
    x = cos.astype(np.float32).reshape(n, 1, 1)
    y = expected.astype(np.float32).reshape(n, 1)
    return {"cosine": {"x": x, "y": y}}


# ----------------------------------------------------------------------------------------
# addition
# ----------------------------------------------------------------------------------------
def addition_questions(n=ADDITION_SIZE, digits=ADDITION_DIGITS, seed=SEED_ADDITION):
    """The ``n`` unique (a, b) operand pairs, in generation order -> int64 (n, 2).

    Same distribution as Keras 1 ``addition_rnn.py``: each operand is
    ``int(''.join(random digit for _ in range(randint(1, digits + 1))))`` -- its digit
    count is uniform in 1..digits and leading zeros are allowed (so '07' -> 7); a pair is
    skipped if ``tuple(sorted((a, b)))`` was already seen (so 'a+b' and 'b+a' never both
    occur). Candidates are drawn in vectorised blocks of ``4 * n`` from
    ``RandomState(seed)`` (``randint(1, digits+1, (block, 2))`` digit counts, then
    ``randint(0, 10, (block, 2, digits))`` digits) and the first ``n`` candidates whose
    unordered pair is new are kept, in draw order.
    """
    rs = np.random.RandomState(seed)
    kk = np.arange(digits)
    cands = []
    while True:
        block = 4 * n
        ndig = rs.randint(1, digits + 1, size=(block, 2))
        dig = rs.randint(0, 10, size=(block, 2, digits))
        # operand = the first ndig digits read as a decimal number (leading zeros allowed):
        # digit k < ndig has weight 10**(ndig-1-k), the others weight 0
        expo = ndig[:, :, None] - 1 - kk[None, None, :]
        weight = np.where(expo >= 0, 10 ** np.clip(expo, 0, None), 0)
        cands.append((dig * weight).sum(axis=-1))
        allc = np.concatenate(cands)
        key = allc.min(axis=1) * 10 ** digits + allc.max(axis=1)
        _, first = np.unique(key, return_index=True)  # first occurrence of each pair
        if len(first) >= n:
            break
    keep = np.sort(first)[:n]
    return allc[keep].astype(np.int64)


def _ndigits(v):
    """Number of decimal digits of non-negative ints (0 -> 1)."""
    nd = np.ones_like(v)
    t = v // 10
    while (t > 0).any():
        nd += t > 0
        t //= 10
    return nd


def _layout(numbers, plus, width):
    """Character indices (N, width) of ``str(a) [+ '+' + str(b)]`` left-aligned, space-padded.

    Digits map to indices 0..9, '+' to 10, ' ' to 11 (the ``ADDITION_CHARS`` order).
    """
    k = np.arange(width)[None, :]
    out = np.full((len(numbers[0]), width), 11, dtype=np.int64)
    pos = np.zeros((len(numbers[0]), 1), dtype=np.int64)  # where the current field starts
    for j, v in enumerate(numbers):
        if j:
            out = np.where(k == pos, 10 if plus else 11, out)
            pos = pos + 1
        v = v[:, None]
        nd = _ndigits(v)
        inside = (k >= pos) & (k < pos + nd)
        expo = np.clip(pos + nd - 1 - k, 0, None)
        out = np.where(inside, (v // 10 ** expo) % 10, out)
        pos = pos + nd
    return out


def encode_addition(pairs, maxlen=ADDITION_MAXLEN, anslen=ADDITION_ANSLEN, invert=ADDITION_INVERT):
    """One-hot encode operand pairs -> (x uint8 (N, maxlen, 12), y uint8 (N, anslen, 12)).

    Question ``'{a}+{b}'`` right-padded with spaces to ``maxlen`` then reversed when
    ``invert`` (``'12+345 '`` -> ``' 543+21'``); answer ``str(a+b)`` right-padded with
    spaces to ``anslen`` (not reversed). One-hot index = position in ``ADDITION_CHARS``
    (``'0123456789+ '``). Vectorised; ``encode_addition_str`` is the plain-string
    equivalent (used by the tests on a sample).
    """
    a, b = pairs[:, 0], pairs[:, 1]
    xi = _layout([a, b], True, maxlen)
    if invert:
        xi = xi[:, ::-1]
    yi = _layout([a + b], False, anslen)
    eye = np.eye(len(ADDITION_CHARS), dtype=np.uint8)
    return eye[xi], eye[yi]


def encode_addition_str(a, b, maxlen=ADDITION_MAXLEN, anslen=ADDITION_ANSLEN, invert=ADDITION_INVERT):
    """The question and answer strings for one pair, exactly as ``addition_rnn.py`` builds them."""
    q = "{}+{}".format(a, b)
    q = q + " " * (maxlen - len(q))
    if invert:
        q = q[::-1]
    ans = str(a + b)
    ans = ans + " " * (anslen - len(ans))
    return q, ans


def gen_addition(seed=SEED_ADDITION):
    """Keras 1.2.2 ``examples/addition_rnn.py`` data -> ``addition`` and ``addition_val``.

    50 000 unique questions (see ``addition_questions``), one-hot over
    ``'0123456789+ '`` (``x`` (N, 7, 12), ``y`` (N, 4, 12), uint8), shuffled with a seeded
    permutation; the last 10 % (5 000) is ``addition_val``, as in the script's
    ``split_at = len(X) - len(X) / 10``. Both files also hold ``chars`` (uint8 ASCII codes
    of the charset, in one-hot index order) so predictions can be decoded.
    """
    pairs = addition_questions(seed=seed)
    x, y = encode_addition(pairs)
    perm = np.random.RandomState(seed + 1).permutation(len(x))
    x, y = x[perm], y[perm]
    split_at = len(x) - len(x) // 10
    chars = np.frombuffer(ADDITION_CHARS.encode("ascii"), dtype=np.uint8).copy()
    return {
        "addition": {"x": x[:split_at], "y": y[:split_at], "chars": chars},
        "addition_val": {"x": x[split_at:], "y": y[split_at:], "chars": chars.copy()},
    }


def decode_onehot(arr, chars):
    """Decode a one-hot (T, C) row back to a string (argmax per step)."""
    return "".join(chars[i] for i in np.asarray(arr).argmax(axis=-1))


# ----------------------------------------------------------------------------------------
# char corpus
# ----------------------------------------------------------------------------------------
def build_char_corpus(modules=CORPUS_MODULES):
    """Concatenate the source files of the standard-library ``modules`` (in that order).

    Each file is read as UTF-8 from ``sysconfig.get_paths()['stdlib']``; the texts are
    joined with one blank line (``'\\n'``) between files. Case is kept. The modules were
    chosen for being pure Python, documentation-heavy and ASCII-only under CPython 3.11.7.
    """
    stdlib = Path(sysconfig.get_paths()["stdlib"])
    parts = [(stdlib / (m + ".py")).read_text(encoding="utf-8") for m in modules]
    return "\n".join(parts)


# ----------------------------------------------------------------------------------------
# digits
# ----------------------------------------------------------------------------------------
def load_digits_raw():
    """scikit-learn ``load_digits()`` -> (images (1797, 8, 8) float64 0..16, target int)."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    return bunch.images, bunch.target


def make_digits(images, target, seed=SEED_DIGITS, test_fraction=0.2):
    """Digits as pixel sequences -> ``digits`` (train) and ``digits_test``.

    ``x = images / 16`` as float32, shape (N, 64, 1): the 8x8 image read pixel by pixel,
    row by row (row-major), like ``mnist_irnn.py``. ``y`` one-hot (N, 10) float32.
    Stratified split with ``RandomState(seed)``: for each class 0..9 in turn its indices
    are permuted and the first ``floor(0.2 * n_class + 0.5)`` go to the test set (359 of
    1797 in total); then each set is shuffled with a further permutation.
    """
    images = np.asarray(images, dtype=np.float64)
    target = np.asarray(target).astype(np.int64)
    rs = np.random.RandomState(seed)
    train_idx, test_idx = [], []
    for c in range(10):
        idx = rs.permutation(np.flatnonzero(target == c))
        n_test = int(math.floor(test_fraction * len(idx) + 0.5))
        test_idx.append(idx[:n_test])
        train_idx.append(idx[n_test:])
    train_idx = np.concatenate(train_idx)
    test_idx = np.concatenate(test_idx)
    train_idx = train_idx[rs.permutation(len(train_idx))]
    test_idx = test_idx[rs.permutation(len(test_idx))]
    x_all = (images.reshape(len(images), 64, 1) / 16.0).astype(np.float32)
    y_all = np.eye(10, dtype=np.float32)[target]
    return {
        "digits": {"x": x_all[train_idx], "y": y_all[train_idx]},
        "digits_test": {"x": x_all[test_idx], "y": y_all[test_idx]},
    }


def gen_digits():
    """scikit-learn digits exported via ``load_digits()`` and split by ``make_digits``."""
    images, target = load_digits_raw()
    return make_digits(images, target)


# ----------------------------------------------------------------------------------------
# sunspots
# ----------------------------------------------------------------------------------------
def load_sunspots_raw():
    """statsmodels ``sunspots`` -> (years int64 (309,), values float64 (309,)), 1700..2008."""
    from statsmodels.datasets import sunspots

    df = sunspots.load_pandas().data
    return df["YEAR"].to_numpy().astype(np.int64), df["SUNACTIVITY"].to_numpy().astype(np.float64)


def sunspots_csv_text(years, values):
    """The raw series as CSV text: header ``year,value``, one ``YEAR,VALUE`` line per year."""
    lines = ["year,value"] + ["{},{!r}".format(int(yr), float(v)) for yr, v in zip(years, values)]
    return "\n".join(lines) + "\n"


def read_sunspots_csv(path):
    """Read ``sunspots.csv`` back -> (years int64, values float64)."""
    data = np.loadtxt(path, delimiter=",", skiprows=1, dtype=np.float64, ndmin=2)
    return data[:, 0].astype(np.int64), data[:, 1]


def make_sunspots(years, values, window=SUNSPOTS_WINDOW, scale=SUNSPOTS_SCALE,
                  val_fraction=SUNSPOTS_VAL_FRACTION):
    """Sliding windows -> ``sunspots`` (train) and ``sunspots_val``.

    Window i: ``x = values[i : i+window] / scale`` (shape (window, 1)), target
    ``y = values[i+window] / scale`` (shape (1,)), for i = 0 .. len-window-1 (299 windows
    for 309 years). Windows stay in time order; the last ``floor(0.2 * 299 + 0.5) = 60``
    windows (targets 1949..2008) are validation. float32. ``year`` (int32) is the target's
    year.
    """
    v = np.asarray(values, dtype=np.float64) / scale
    n = len(v) - window
    idx = np.arange(n)[:, None] + np.arange(window)[None, :]
    x = v[idx].astype(np.float32)[:, :, None]
    y = v[window:].astype(np.float32)[:, None]
    yr = np.asarray(years, dtype=np.int32)[window:]
    n_val = int(math.floor(val_fraction * n + 0.5))
    s = n - n_val
    return {
        "sunspots": {"x": x[:s], "y": y[:s], "year": yr[:s]},
        "sunspots_val": {"x": x[s:], "y": y[s:], "year": yr[s:]},
    }


def sunspots_baselines(val):
    """Naive 'same as last year' (y_hat = x[:, -1]) MSE/MAE on windows, in scaled units."""
    pred = val["x"][:, -1, 0].astype(np.float64)
    true = val["y"][:, 0].astype(np.float64)
    err = pred - true
    return {"mse": float(np.mean(err ** 2)), "mae": float(np.mean(np.abs(err)))}


def gen_sunspots():
    """statsmodels sunspots exported via ``load_sunspots_raw`` and windowed by ``make_sunspots``."""
    years, values = load_sunspots_raw()
    return make_sunspots(years, values)


# ----------------------------------------------------------------------------------------
# masked
# ----------------------------------------------------------------------------------------
def masked_label(seq):
    """The rule: 1 if token 1 occurs more often than token 2 among the non-zero tokens."""
    seq = np.asarray(seq)
    return int(np.sum(seq == 1) > np.sum(seq == 2))


def gen_masked(seed=SEED_MASKED, n_train=MASKED_N_TRAIN, n_val=MASKED_N_VAL):
    """Generated task for ``Embedding(20, ..., mask_zero=True) -> LSTM -> Dense(sigmoid)``.

    Each sample: length L uniform in 5..30; tokens i.i.d. with P(1) = P(2) = 0.15 and the
    other 17 ids (3..19) sharing the remaining 0.70 uniformly; label ``count(1) >
    count(2)`` (ties are rejected and redrawn, so the label is never ambiguous). Sequences
    are PRE-padded with 0 to length 40 (``pad_sequences`` default), int32. Candidates are
    drawn in vectorised blocks from ``RandomState(seed)``; the first 8 000 accepted go to
    ``masked``, the next 2 000 to ``masked_val``. ``y`` float32 (N, 1); ``lengths`` int32.
    """
    rs = np.random.RandomState(seed)
    n = n_train + n_val
    others = MASKED_VOCAB - 3  # ids 3..19
    p = np.array([MASKED_P_ONE, MASKED_P_TWO] + [(1.0 - MASKED_P_ONE - MASKED_P_TWO) / others] * others)
    tokens_ids = np.arange(1, MASKED_VOCAB)
    xs, ls = [], []
    got = 0
    while got < n:
        block = 2 * n
        lens = rs.randint(MASKED_MIN_LEN, MASKED_MAX_LEN + 1, size=block)
        toks = rs.choice(tokens_ids, size=(block, MASKED_MAX_LEN), p=p)
        valid = np.arange(MASKED_MAX_LEN)[None, :] < lens[:, None]
        toks = np.where(valid, toks, 0)
        c1 = (toks == 1).sum(axis=1)
        c2 = (toks == 2).sum(axis=1)
        ok = c1 != c2
        xs.append(toks[ok])
        ls.append(lens[ok])
        got += int(ok.sum())
    toks = np.concatenate(xs)[:n]
    lens = np.concatenate(ls)[:n]
    # pre-pad: real tokens occupy the last L positions of the MASKED_MAXLEN row
    x = np.zeros((n, MASKED_MAXLEN), dtype=np.int32)
    for i in range(n):
        L = int(lens[i])
        x[i, MASKED_MAXLEN - L:] = toks[i, :L]
    y = ((x == 1).sum(axis=1) > (x == 2).sum(axis=1)).astype(np.float32)[:, None]
    lens = lens.astype(np.int32)
    return {
        "masked": {"x": x[:n_train], "y": y[:n_train], "lengths": lens[:n_train]},
        "masked_val": {"x": x[n_train:], "y": y[n_train:], "lengths": lens[n_train:]},
    }


# ----------------------------------------------------------------------------------------
# driver
# ----------------------------------------------------------------------------------------
GENERATORS = {
    "cosine": gen_cosine,
    "addition": gen_addition,
    "char_corpus": None,  # text file, handled separately
    "digits": gen_digits,
    "sunspots": gen_sunspots,
    "masked": gen_masked,
}


def _same_npz(path, arrays):
    if not path.exists():
        return False
    try:
        with np.load(path, allow_pickle=False) as old:
            if set(old.files) != set(arrays):
                return False
            for k, v in arrays.items():
                o = old[k]
                if o.dtype != v.dtype or o.shape != v.shape or not np.array_equal(o, v):
                    return False
    except Exception:
        return False
    return True


def _write_npz(path, arrays):
    """savez_compressed into a temp file then atomically replace; skip if unchanged."""
    for k, v in arrays.items():
        assert v.dtype != object, (path, k)
    if _same_npz(path, arrays):
        return "unchanged"
    fd, tmp = tempfile.mkstemp(suffix=".npz", dir=path.parent)
    os.close(fd)
    try:
        np.savez_compressed(tmp, **arrays)
        os.chmod(tmp, 0o644)  # mkstemp creates 0600
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
    return "written"


def _summary(name, arrays, path, status):
    parts = ", ".join("{}{}:{}".format(k, tuple(v.shape), v.dtype) for k, v in arrays.items())
    kb = path.stat().st_size / 1024 if path.exists() else float("nan")
    return "{:<22} {:<9} {:8.1f} KB  {}".format(path.name, status, kb, parts)


def _write_text(path, text):
    if path.exists() and path.read_text(encoding="utf-8") == text:
        return "unchanged"
    with open(path, "w", encoding="utf-8", newline="\n") as fh:
        fh.write(text)
    return "written"


def run(names, out_dir=HERE, check=False, force=False):
    """Generate ``names`` into ``out_dir`` (or, with ``check``, compare). Returns exit code."""
    out_dir = Path(out_dir)
    rc = 0
    for name in names:
        if name == "char_corpus":
            path = out_dir / "char_corpus.txt"
            this = tuple(sys.version_info[:3])
            if this != CORPUS_PYTHON and not force:
                print("{:<22} {:<9} {:8.1f} KB  kept: shipped text was built by Python {}, this is {} "
                      "(use --force to rebuild)".format(
                          path.name, "skipped", path.stat().st_size / 1024 if path.exists() else 0,
                          ".".join(map(str, CORPUS_PYTHON)), ".".join(map(str, this))))
                continue
            text = build_char_corpus()
            if check:
                ok = path.exists() and path.read_text(encoding="utf-8") == text
                status = "ok" if ok else "DIFFERS"
                rc |= 0 if ok else 1
            else:
                status = _write_text(path, text)
            print("{:<22} {:<9} {:8.1f} KB  {} chars, {} distinct, modules: {}".format(
                path.name, status, path.stat().st_size / 1024 if path.exists() else 0,
                len(text), len(set(text)), ", ".join(CORPUS_MODULES)))
            continue
        if name == "sunspots":
            years, values = load_sunspots_raw()
            csv_path = out_dir / "sunspots.csv"
            text = sunspots_csv_text(years, values)
            if check:
                ok = csv_path.exists() and csv_path.read_text(encoding="utf-8") == text
                rc |= 0 if ok else 1
                status = "ok" if ok else "DIFFERS"
            else:
                status = _write_text(csv_path, text)
            print("{:<22} {:<9} {:8.1f} KB  {} years {}..{}".format(
                csv_path.name, status, csv_path.stat().st_size / 1024 if csv_path.exists() else 0,
                len(years), years[0], years[-1]))
            files = make_sunspots(years, values)
        else:
            files = GENERATORS[name]()
        for fname, arrays in files.items():
            path = out_dir / (fname + ".npz")
            if check:
                ok = _same_npz(path, arrays)
                rc |= 0 if ok else 1
                status = "ok" if ok else "DIFFERS"
            else:
                status = _write_npz(path, arrays)
            print(_summary(fname, arrays, path, status))
        if name == "sunspots":
            b = sunspots_baselines(files["sunspots_val"])
            print("    sunspots_val naive 'same as last year' baseline (scaled units, /100): "
                  "MSE {:.6f}  MAE {:.6f}  ({} windows)".format(b["mse"], b["mae"], len(files["sunspots_val"]["y"])))
        if name == "masked":
            for fname, arrays in files.items():
                print("    {} positive fraction {:.4f}, mean length {:.2f}".format(
                    fname, float(arrays["y"].mean()), float(arrays["lengths"].mean())))
    return rc


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("names", nargs="*", metavar="NAME",
                    help="datasets to build (default: all): " + ", ".join(GENERATORS))
    ap.add_argument("--check", action="store_true",
                    help="do not write; regenerate in memory and compare with the shipped files")
    ap.add_argument("--force", action="store_true",
                    help="rebuild char_corpus.txt even under a different Python release")
    ap.add_argument("--out", default=str(HERE), help="output directory (default: datasets/)")
    args = ap.parse_args(argv)
    names = args.names or list(GENERATORS)
    unknown = [n for n in names if n not in GENERATORS]
    if unknown:
        ap.error("unknown dataset(s) {}; choose from {}".format(", ".join(unknown), ", ".join(GENERATORS)))
    return run(names, out_dir=args.out, check=args.check, force=args.force)


if __name__ == "__main__":
    sys.exit(main())
