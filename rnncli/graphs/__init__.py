"""Models that are not a chain: the merge layers and ``GraphModel`` (named inputs, shared layers, states between
recurrent layers, named outputs), built from a ``GraphPlan``."""
