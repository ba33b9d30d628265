"""The conformance suite covers every layer type the config accepts, including stateful and masked variants."""

from __future__ import annotations

from rnncli.config.args import LAYER_SPECS
from rnncli.config.graph_args import MERGE_SPECS


def test_every_layer_type_has_a_descriptor(descriptors):
    covered = {d.covers for d in descriptors}
    known = set(LAYER_SPECS) | set(MERGE_SPECS)  # merge layers exist in graphs only
    missing = sorted(known - covered)
    assert not missing, (f"layer types without a conformance descriptor: {', '.join(missing)}; add one to "
                         f"DESCRIPTORS in tests/conformance/conftest.py")
    assert covered <= known, f"descriptors for unknown layer types: {sorted(covered - known)}"
    assert any("shared" in d.tags for d in descriptors), "no graph with a shared layer"


def test_descriptor_names_are_unique_and_variants_are_present(descriptors):
    names = [d.name for d in descriptors]
    assert len(names) == len(set(names))
    for tag in ("stateful", "masked"):
        assert any(tag in d.tags for d in descriptors), f"no {tag} descriptor"
    stateful_types = {d.covers for d in descriptors if "stateful" in d.tags}
    assert {"LSTM", "Bidirectional"} <= stateful_types
