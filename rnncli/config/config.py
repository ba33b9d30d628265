"""``Config``: a validated config file, the value every later stage reads (model plan, data, training)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from rnncli.config.plan import ModelPlan


@dataclass
class Config:
    """A validated config: resolved sections with defaults filled in, and the model plan."""

    path: Path
    seed: int
    model: ModelPlan
    data: dict | None = None
    training: dict | None = None
    layer_sources: list = field(default_factory=list, repr=False)
    notes: list[str] = field(default_factory=list)  # what a Keras document held that could not be carried over
    tune: dict | None = None      # the resolved `tune:` section (rnncli tune), None without one

    @property
    def has_weight_files(self) -> bool:
        """Whether any layer (or wrapped layer) loads its weights from a `weights:` file."""
        return any(layer.config.get("weights") or (layer.config.get("layer") or {}).get("weights")
                   for layer in self.model.layers)

    @property
    def base_dir(self) -> Path:
        return self.path.parent

    @property
    def training_settings(self) -> dict:
        """The training section, or the declared defaults when the config has none (inference from a model-only
        config: ``loss`` is then None)."""
        from rnncli.config.training import training_defaults

        return self.training if self.training is not None else training_defaults()

    def resolved(self) -> dict:
        """Plain data for ``config.resolved.yaml`` in a run directory (paths made absolute)."""
        graph = getattr(self.model, "resolved_model", None)  # a GraphPlan: inputs, layers with inputs, outputs
        return {
            "seed": self.seed,
            "model": plain(graph()) if graph is not None else {"layers": [plain(layer.config) for layer in
                                                                         self.model.layers]},
            "data": plain(self.data),
            "training": plain(self.training),
        }


def plain(value: Any) -> Any:
    """``value`` as plain YAML data: mappings with string keys and lists, all the way down."""
    if isinstance(value, dict):
        return {str(k): plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [plain(v) for v in value]
    return value
