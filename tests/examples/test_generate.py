"""Character sampling (rnncli/commands/generate.py, `rnncli generate`): Keras 1 temperature sampling, seeds, prime text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner

from rnncli.cli.main import main
from rnncli.errors import UserInputError
from rnncli.commands.generate import encode_window, generate, load_char_model, prepare_prime, sample_index


def test_sample_index_follows_keras1_temperature() -> None:
    p = np.array([0.5, 0.3, 0.15, 0.05])
    rng = np.random.default_rng(0)
    for temperature in (1.0, 0.5):
        expected = p ** (1 / temperature) / np.sum(p ** (1 / temperature))  # softmax(log(p) / T)
        draws = np.bincount([sample_index(p, temperature, rng) for _ in range(20000)], minlength=4) / 20000
        np.testing.assert_allclose(draws, expected, atol=0.015)
    assert all(sample_index(p, 0.01, rng) == 0 for _ in range(100))  # a tiny temperature is argmax
    assert sample_index(np.array([0.0, 1.0, 0.0]), 1.0, rng) == 1     # log(0) is fine
    with pytest.raises(UserInputError):
        sample_index(p, 0.0, rng)


def test_prepare_prime_pads_cuts_lowercases_and_checks() -> None:
    vocab = " abc"
    assert prepare_prime("ab", vocab, 5) == "   ab"
    assert prepare_prime("abcabc", vocab, 4) == "cabc"
    assert prepare_prime("ABC", vocab, 3, lowercase=True) == "abc"
    with pytest.raises(UserInputError, match="'z'"):
        prepare_prime("abz", vocab, 4)
    x = encode_window("ab ", vocab)
    assert x.shape == (1, 3, 4) and x.dtype == np.float32
    assert x[0].argmax(axis=-1).tolist() == [1, 2, 0] and x.sum() == 3


def test_generate_is_reproducible_with_a_seed(char_run: Path) -> None:
    model = load_char_model(char_run, device_spec="cpu")
    vocab = json.loads((char_run / "vocab.json").read_text())["vocab"]
    assert model.vocab == vocab and model.window == 40 and model.lowercase
    a = generate(model, "Def Format(self, text):", length=40, temperature=0.5, seed=11)
    b = generate(model, "Def Format(self, text):", length=40, temperature=0.5, seed=11)
    assert a.text == b.text and len(a.text) == 40 and set(a.text) <= set(vocab)
    assert a.prime == "def format(self, text):"
    c = generate(model, "Def Format(self, text):", length=40, temperature=1.0, seed=12)
    assert c.text != a.text


def test_generate_command(char_run: Path) -> None:
    args = ["generate", str(char_run), "--prime", "import random", "--length", "25", "--temperature", "0.5",
            "--seed", "5", "--device", "cpu"]
    result = CliRunner().invoke(main, args, catch_exceptions=False)  # click >= 8.2: result.stdout is stdout only
    assert result.exit_code == 0, result.output
    expected = generate(load_char_model(char_run, device_spec="cpu"), "import random", 25, 0.5, seed=5)
    assert result.stdout == expected.prime + expected.text + "\n"
    missing = CliRunner().invoke(main, ["generate", str(char_run.parent), "--prime", "x"])
    assert missing.exit_code == 2
