"""The conformance suite covers every layer type the config accepts, including stateful and masked variants."""

from __future__ import annotations

from rnncli.config.args import LAYER_SPECS


def test_every_layer_type_has_a_descriptor(descriptors):
    covered = {d.covers for d in descriptors}
    missing = sorted(set(LAYER_SPECS) - covered)
    assert not missing, (f"layer types without a conformance descriptor: {', '.join(missing)}; add one to "
                         f"DESCRIPTORS in tests/conformance/conftest.py")
    assert covered <= set(LAYER_SPECS), f"descriptors for unknown layer types: {sorted(covered - set(LAYER_SPECS))}"


def test_descriptor_names_are_unique_and_variants_are_present(descriptors):
    names = [d.name for d in descriptors]
    assert len(names) == len(set(names))
    for tag in ("stateful", "masked"):
        assert any(tag in d.tags for d in descriptors), f"no {tag} descriptor"
    stateful_types = {d.covers for d in descriptors if "stateful" in d.tags}
    assert {"LSTM", "Bidirectional"} <= stateful_types
