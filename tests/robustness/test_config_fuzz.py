"""Property-based fuzzing of `rnncli validate`: any document gives exit 0 or 2, quickly, and never a traceback.

The number of examples is small by default (a few seconds); set RNNCLI_FUZZ_EXAMPLES=2000 for a long run.
"""

from __future__ import annotations

import os
import random
import time
from pathlib import Path

import pytest
import yaml
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rnncli.cli.main import main

ROOT = Path(__file__).resolve().parents[2]
EXAMPLES = int(os.environ.get("RNNCLI_FUZZ_EXAMPLES", "40"))
CONFIGS = sorted((ROOT / "configs").glob("*.yaml"))
FUZZ = settings(max_examples=EXAMPLES, deadline=None, derandomize=True,
                suppress_health_check=[HealthCheck.too_slow, HealthCheck.function_scoped_fixture])

scalars = st.one_of(
    st.none(), st.booleans(), st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True), st.text(max_size=20),
    st.sampled_from(["LSTM", "GRU", "SimpleRNN", "Dense", "tanh", "hard_sigmoid", "cpu", "gpu", "orthogonal",
                     "mse", "adam", "1e-3", "yes", "null", "~", "-.inf"]),
)
documents = st.recursive(
    scalars,
    lambda children: st.one_of(st.lists(children, max_size=5),
                               st.dictionaries(st.sampled_from(["model", "layers", "type", "output_dim",
                                                                "input_shape", "training", "data", "loss",
                                                                "stateful", "batch_input_shape", "x"]) | st.text(
                                   max_size=8), children, max_size=6)),
    max_leaves=30,
)


def run_validate(path: Path, limit: float = 5.0) -> tuple[int, str]:
    started = time.perf_counter()
    result = CliRunner().invoke(main, ["validate", str(path)])
    elapsed = time.perf_counter() - started
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    assert result.exit_code in (0, 2), result.output
    assert "Traceback" not in result.output
    assert elapsed < limit, f"validate took {elapsed:.1f}s"
    return result.exit_code, result.output


@FUZZ
@given(doc=documents)
def test_random_documents(tmp_path_factory: pytest.TempPathFactory, doc: object) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(yaml.safe_dump(doc, allow_unicode=True))
    run_validate(path)


@FUZZ
@given(text=st.text(max_size=400))
def test_random_text(tmp_path_factory: pytest.TempPathFactory, text: str) -> None:
    path = tmp_path_factory.mktemp("fuzz") / "c.yaml"
    path.write_text(text, encoding="utf-8")
    run_validate(path)


def _mutate(node: object, rng: random.Random) -> object:
    """One random edit somewhere in the tree: delete a key, swap a type, push a number out of range, rename."""
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        action = rng.randrange(6)
        if action == 0:
            node.pop(key)
        elif action == 1:
            node[key] = rng.choice([None, "text", -1, 0, 1e308, [1, 2], {"a": 1}, True, "ü☃" * 50])
        elif action == 2:
            node[key + rng.choice(["x", "_", ""])[:1] or key[:-1]] = node.pop(key)
        elif action == 3 and isinstance(node[key], (int, float)) and not isinstance(node[key], bool):
            node[key] = node[key] * rng.choice([-1, 10**9, 0])
        else:
            node[key] = _mutate(node[key], rng)
    elif isinstance(node, list) and node:
        index = rng.randrange(len(node))
        if rng.random() < 0.3:
            node.pop(index)
        else:
            node[index] = _mutate(node[index], rng)
    return node


@pytest.mark.parametrize("config", CONFIGS, ids=[c.stem for c in CONFIGS])
@FUZZ
@given(seed=st.integers(min_value=0, max_value=2**32 - 1))
def test_mutated_shipped_configs(tmp_path_factory: pytest.TempPathFactory, config: Path, seed: int) -> None:
    doc = yaml.safe_load(config.read_text())
    rng = random.Random(seed)
    for _ in range(rng.randint(1, 3)):
        doc = _mutate(doc, rng)
    folder = tmp_path_factory.mktemp("mut")
    path = folder / "c.yaml"
    # keep relative data paths working from the temp folder
    text = yaml.safe_dump(doc, allow_unicode=True).replace("../datasets/", str(ROOT / "datasets") + "/")
    path.write_text(text)
    run_validate(path)


def test_anchors_aliases_deep_nesting_and_long_files(tmp_path: Path) -> None:
    cases = {
        "alias": "x-base: &b {type: LSTM, output_dim: 4, input_shape: [3, 2]}\nmodel:\n  layers: [*b]\n",
        "merge": "x-base: &b {type: LSTM, output_dim: 4}\nmodel:\n  layers:\n    - <<: *b\n      input_shape: [3, 2]\n",
        "deep": "model: " + "[" * 5000 + "]" * 5000 + "\n",
        "deep_map": "model: " + "{a: " * 3000 + "1" + "}" * 3000 + "\n",
        "long": "model:\n  layers:\n" + "    - {type: Dense, output_dim: 3, input_dim: 3}\n" * 5000,
        "huge_number": "model:\n  layers:\n    - {type: LSTM, output_dim: 99999999999999999999999, input_shape: [3, 2]}\n",
        "binary": "model: !!binary aGVsbG8=\n",
        "tab": "model:\n\tlayers: []\n",
    }
    codes = {}
    for name, text in cases.items():
        path = tmp_path / f"{name}.yaml"
        path.write_text(text)
        codes[name], _ = run_validate(path, limit=10.0)
    assert codes["huge_number"] == 2 and codes["deep"] == 2 and codes["tab"] == 2 and codes["long"] == 2
    assert codes["alias"] == 0 and codes["merge"] == 0  # anchors under `x-` keys are allowed
