"""The README's config reference is generated from the declarations and must not go stale."""

from pathlib import Path

from rnncli.config.reference import embed

README = Path(__file__).resolve().parents[1] / "README.md"


def test_config_reference_is_current() -> None:
    text = README.read_text(encoding="utf-8")
    assert embed(text) == text, "README config reference is stale: run `python -m rnncli.config.reference --write README.md`"
