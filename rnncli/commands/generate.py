"""Character-level text generation from a trained character model (Keras 1 ``examples/lstm_text_generation.py``).

A character run is trained on a ``.txt`` corpus with ``data.window``; training writes the alphabet into
``RUN/vocab.json`` (index i <-> vocab[i]). Generation encodes the last ``window`` characters as a one-hot window,
predicts the next-character distribution, re-weights it with a temperature exactly like the Keras 1 script's
``sample()`` (``log(p) / T``, softmax, one multinomial draw), appends the character and slides the window.

Library functions only: nothing here prints. Every user-facing problem is a ``UserInputError``.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from rnncli.errors import UserInputError


@dataclass
class CharModel:
    """A restored character model with its alphabet and window length."""

    engine: Any
    vocab: str
    window: int
    lowercase: bool
    run_dir: Path
    checkpoint_path: str | None
    notes: list[str] = field(default_factory=list)

    @property
    def index(self) -> dict[str, int]:
        return {c: i for i, c in enumerate(self.vocab)}


@dataclass
class Generation:
    prime: str   # the prime text as the model saw it (lower-cased if the run was)
    text: str    # the generated continuation only
    temperature: float
    seed: int | None


def read_vocab(run_dir: Path) -> str:
    """The alphabet that training wrote into ``RUN/vocab.json``."""
    path = Path(run_dir) / "vocab.json"
    if not path.exists():
        raise UserInputError(f"{run_dir}: no vocab.json, so this is not a character model; train one on a .txt corpus "
                             f"with `data.window` (e.g. configs/char_lm.yaml)")
    try:
        vocab = json.loads(path.read_text(encoding="utf-8"))["vocab"]
    except (OSError, ValueError, KeyError, TypeError) as exc:
        raise UserInputError(f"{path}: unreadable ({exc})") from None
    if not isinstance(vocab, str) or not vocab or len(set(vocab)) != len(vocab):
        raise UserInputError(f"{path}: `vocab` must be a non-empty string of distinct characters")
    return vocab


def load_char_model(run_dir: Path, checkpoint: str = "latest", device_spec: str = "auto") -> CharModel:
    """Restore a character run and check that its model fits its vocabulary: input (window, V), output (V)."""
    from rnncli.commands.source import load_source

    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise UserInputError(f"{run_dir}: not a run directory")
    vocab = read_vocab(run_dir)
    loaded = load_source(run_dir, checkpoint, device_spec)
    plan = loaded.config.model
    shape = tuple(plan.input_shape[1:])
    if len(shape) != 2 or shape[-1] != len(vocab):
        raise UserInputError(f"{run_dir}: the model's input {shape} is not one-hot windows over the "
                             f"{len(vocab)}-character vocabulary")
    if tuple(plan.output_shape[1:]) != (len(vocab),):
        raise UserInputError(f"{run_dir}: the model outputs {tuple(plan.output_shape[1:])}, not one probability per "
                             f"character ({len(vocab)})")
    if plan.stateful:
        raise UserInputError(f"{run_dir}: generation from stateful character models is not supported")
    data = loaded.config.data or {}
    window = shape[0] or data.get("window")
    if not window:
        raise UserInputError(f"{run_dir}: unknown window length (set `input_length`/`input_shape` or `data.window`)")
    return CharModel(loaded.engine, vocab, int(window), bool(data.get("lowercase", False)), run_dir,
                     loaded.checkpoint_path, list(loaded.notes))


def prepare_prime(prime: str, vocab: str, window: int, lowercase: bool = False) -> str:
    """The prime text as the model will see it: lower-cased like the corpus, checked against the vocabulary, and
    left-padded with spaces (or cut to its last ``window`` characters) to exactly ``window`` characters."""
    if lowercase:
        prime = prime.lower()
    unknown = sorted(set(prime) - set(vocab))
    if unknown:
        raise UserInputError(f"--prime: characters {''.join(unknown)!r} are not in the model's vocabulary "
                             f"{vocab[:40]!r}{'...' if len(vocab) > 40 else ''}")
    if len(prime) < window:
        if " " not in vocab:
            raise UserInputError(f"--prime must have at least {window} characters (the vocabulary has no space to "
                                 f"pad a shorter one with)")
        prime = " " * (window - len(prime)) + prime
    return prime[-window:]


def encode_window(sentence: str, vocab: str) -> np.ndarray:
    """One window as the model's input: (1, len(sentence), V) float32 one-hot, like the Keras 1 script."""
    index = {c: i for i, c in enumerate(vocab)}
    x = np.zeros((1, len(sentence), len(vocab)), dtype=np.float32)
    for t, char in enumerate(sentence):
        x[0, t, index[char]] = 1.0
    return x


def sample_index(probabilities: np.ndarray, temperature: float, rng: np.random.Generator) -> int:
    """Keras 1 ``sample(preds, temperature)``: ``log(p) / T``, softmax, one multinomial draw; returns the index."""
    if not temperature > 0:
        raise UserInputError(f"--temperature must be > 0, got {temperature}")
    preds = np.asarray(probabilities, dtype=np.float64).reshape(-1)
    with np.errstate(divide="ignore"):
        logits = np.log(preds) / temperature
    logits -= np.max(logits)  # same softmax as exp/sum, without overflow at small temperatures
    exp = np.exp(logits)
    preds = exp / np.sum(exp)
    draw = rng.multinomial(1, preds, 1)
    return int(np.argmax(draw))


def generate(model: CharModel, prime: str, length: int = 400, temperature: float = 0.5,
             seed: int | None = None) -> Generation:
    """Sample ``length`` characters after ``prime``; the same ``seed`` gives the same text."""
    if length < 0:
        raise UserInputError(f"--length must be >= 0, got {length}")
    if not temperature > 0:
        raise UserInputError(f"--temperature must be > 0, got {temperature}")
    sentence = prepare_prime(prime, model.vocab, model.window, model.lowercase)
    shown = prime.lower() if model.lowercase else prime
    rng = np.random.default_rng(seed)
    out = []
    for _ in range(length):
        probabilities = model.engine.predict(encode_window(sentence, model.vocab), 1)[0]
        char = model.vocab[sample_index(probabilities, temperature, rng)]
        out.append(char)
        sentence = sentence[1:] + char
    return Generation(shown, "".join(out), float(temperature), seed)
