"""Learning curves of a run as a PNG (matplotlib is an optional extra: ``pip install 'rnncli[plot]'``)."""

from __future__ import annotations

from pathlib import Path

from rnncli.errors import RnncliError, UserInputError


def plot_history(rows: list[dict], output: Path, title: str, best_epoch: int | None = None) -> list[str]:
    """One panel per quantity (loss and each metric), train and validation curves over epochs, and a dashed line
    at ``best_epoch`` (the best checkpoint) when given; returns the panels."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
    except ImportError:
        raise RnncliError("`rnncli plot` needs matplotlib: pip install 'rnncli[plot]' (or pip install matplotlib)") \
            from None
    if not rows:
        raise UserInputError("the run has no completed epoch to plot")
    quantities = [k for k in rows[0] if k not in ("epoch", "seconds", "lr") and not k.startswith("val_")]
    epochs = [row["epoch"] for row in rows]
    figure, axes = plt.subplots(1, len(quantities), figsize=(5 * len(quantities), 3.8), squeeze=False)
    for axis, name in zip(axes[0], quantities):
        axis.plot(epochs, [row.get(name) for row in rows], marker="o", label=f"train {name}")
        if f"val_{name}" in rows[0]:
            axis.plot(epochs, [row.get(f"val_{name}") for row in rows], marker="s", label=f"validation {name}")
        if best_epoch is not None and best_epoch in epochs:
            axis.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
        axis.set_xlabel("epoch")
        axis.set_title(name)
        axis.grid(alpha=0.3)
        axis.legend()
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return quantities
