"""rnncli implements the recurrences itself: no Keras recurrent layer, cell or RNN loop anywhere in ``rnncli/``.

The check reads the code (not comments or docstrings, which may name Keras layers to explain the math): imports
and attribute chains through Keras or TensorFlow, and a plain-text pattern for the usual spellings. It is tested on
snippets that must be caught, so it cannot pass vacuously.
"""

from __future__ import annotations

import ast
import io
import re
import tokenize
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[2] / "rnncli"

RECURRENT_NAMES = {
    "LSTM", "GRU", "SimpleRNN", "RNN", "LSTMCell", "GRUCell", "SimpleRNNCell", "StackedRNNCells", "AbstractRNNCell",
    "ConvLSTM1D", "ConvLSTM2D", "ConvLSTM3D", "CuDNNLSTM", "CuDNNGRU", "Bidirectional", "TimeDistributed",
}
LOOP_NAMES = {
    "rnn", "dynamic_rnn", "static_rnn", "bidirectional_dynamic_rnn", "raw_rnn", "rnn_cell", "CudnnRNN",
    "CudnnRNNV2", "CudnnRNNV3", "BlockLSTM", "BlockLSTMV2", "LSTMBlockCell", "GRUBlockCell", "cudnn_rnn",
}
TEXT_PATTERN = re.compile(
    r"\b(?:keras\.layers\.(?:LSTM|GRU|SimpleRNN|RNN)\b|(?:LSTM|GRU|SimpleRNN|RNN)Cell\b|StackedRNNCells\b"
    r"|dynamic_rnn\b|rnn_cell\b|backend\.rnn\b|ops\.rnn\b)")


def _dotted(node: ast.AST) -> list[str] | None:
    parts = []
    while isinstance(node, ast.Attribute):
        parts.append(node.attr)
        node = node.value
    if isinstance(node, ast.Name):
        return [node.id] + parts[::-1]
    return None


def violations(source: str, filename: str = "<snippet>") -> list[str]:
    found = []
    tree = ast.parse(source, filename)
    keras_aliases: set[str] = set()  # local names bound to a Keras (or tf.keras) module
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            for alias in node.names:
                if "keras" in alias.name.split("."):
                    keras_aliases.add(alias.asname or alias.name.split(".")[0])
                if "rnn" in alias.name.split("."):
                    found.append(f"{filename}:{node.lineno}: import {alias.name}")
        elif isinstance(node, ast.ImportFrom) and node.module:
            path = node.module.split(".")
            through_keras = "keras" in path
            for alias in node.names:
                if alias.name == "keras" or through_keras and alias.name in ("layers", "ops", "backend", "src"):
                    keras_aliases.add(alias.asname or alias.name)
                if through_keras and (alias.name in RECURRENT_NAMES | LOOP_NAMES or "rnn" in path):
                    found.append(f"{filename}:{node.lineno}: from {node.module} import {alias.name}")
    for node in ast.walk(tree):
        if not isinstance(node, ast.Attribute):
            continue
        chain = _dotted(node)
        if not chain:
            continue
        via_keras = "keras" in chain or chain[0] in keras_aliases
        via_tf_loops = chain[0] in ("tf", "tensorflow") and any(p in ("nn", "raw_ops", "compat") for p in chain)
        if (via_keras and chain[-1] in RECURRENT_NAMES | LOOP_NAMES) or (via_tf_loops and chain[-1] in LOOP_NAMES):
            found.append(f"{filename}:{node.lineno}: {'.'.join(chain)}")
    code = []  # the source without comments and string literals (docstrings may name Keras layers)
    for token in tokenize.generate_tokens(io.StringIO(source).readline):
        if token.type not in (tokenize.COMMENT, tokenize.STRING):
            code.append(token.string)
    for match in TEXT_PATTERN.finditer(" ".join(code).replace(" . ", ".")):
        found.append(f"{filename}: text `{match.group(0)}`")
    return sorted(set(found))


@pytest.mark.parametrize("snippet", [
    "import keras\nlayer = keras.layers.LSTM(4)",
    "import tensorflow as tf\nlayer = tf.keras.layers.GRU(4)",
    "from keras import layers\ncell = layers.SimpleRNNCell(3)",
    "from keras.layers import LSTM\n",
    "from tensorflow.keras.layers import RNN as R\n",
    "from keras.src.layers.rnn import lstm\n",
    "import keras as K\ny = K.ops.rnn(step, x, [h])",
    "from tensorflow import keras\ny = keras.backend.rnn(step, x, [h])",
    "import tensorflow as tf\ny = tf.compat.v1.nn.dynamic_rnn(cell, x)",
    "import tensorflow as tf\nc = tf.compat.v1.nn.rnn_cell.LSTMCell(4)",
])
def test_checker_catches(snippet):
    assert violations(snippet)


def test_checker_ignores_docs_and_own_layers():
    source = ('"""Unlike keras.layers.LSTM, ..."""\n# keras.layers.GRU(reset_after=False) is the oracle\n'
              "import keras\nkeras.mixed_precision.set_global_policy('mixed_float16')\n"
              "class LSTM:\n    pass\nclass Bidirectional:\n    pass\nlayer = LSTM()\n")
    assert violations(source) == []


def test_rnncli_uses_no_keras_recurrent_layers_or_cells():
    files = sorted(PACKAGE.rglob("*.py"))
    assert any(f.name == "recurrent.py" for f in files), f"rnncli sources not found under {PACKAGE}"
    found = [v for f in files for v in violations(f.read_text(encoding="utf-8"), str(f.relative_to(PACKAGE.parent)))]
    assert not found, "Keras/TF recurrent machinery used in rnncli:\n" + "\n".join(found)
