"""A YAML file holding ``to_yaml()``'s text as one YAML string (``yaml.dump(model.to_yaml())``, seen in a real
repository, also with Python 2's ``!!python/str`` tag) is read as the document inside."""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

from rnncli.config.validate import load_config
from rnncli.errors import ConfigError

INNER = """backend: tensorflow
class_name: Sequential
config:
- class_name: LSTM
  config: {batch_input_shape: [null, 5, 3], name: lstm_1, output_dim: 4, return_sequences: false}
keras_version: 1.2.2
"""


@pytest.mark.parametrize("encode", [lambda t: yaml.dump(t), lambda t: "!!python/str " + yaml.dump(t, default_style='"')],
                         ids=["plain-string", "python-str-tag"])
def test_double_encoded_document_is_read(tmp_path: Path, encode) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(encode(INNER))
    assert isinstance(yaml.safe_load(path.read_text().replace("!!python/str ", "")), str)
    plan = load_config(path).model
    assert [layer.type for layer in plan.layers] == ["LSTM"] and plan.params == 4 * (3 * 4 + 4 * 4 + 4)


def test_errors_inside_the_string_name_it(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text(yaml.dump(INNER.replace("output_dim: 4", "output_dimm: 4")))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    message = str(info.value)  # positions count the lines of the text inside the string (line 5: the LSTM)
    assert ":5:" in message and "unknown key `output_dimm`" in message and "output_dim" in message


def test_a_plain_string_is_still_refused(tmp_path: Path) -> None:
    path = tmp_path / "model.yaml"
    path.write_text("just some text\n")
    with pytest.raises(ConfigError, match="got a string"):
        load_config(path)
