"""Learning curves of a run as a PNG (matplotlib is an optional extra: ``pip install 'rnncli[plot]'``)."""

from __future__ import annotations

from pathlib import Path

from rnncli.errors import RnncliError, UserInputError


COLUMNS = 3  # panels per row of the grid


def plot_history(rows: list[dict], output: Path, title: str, best_epoch: int | None = None) -> list[str]:
    """One panel per quantity (loss and each metric: train and validation curves over epochs) and one of the
    learning rate, on a grid of at most ``COLUMNS`` panels a row with integer epoch ticks, and a dashed line at
    ``best_epoch`` (the best checkpoint) when given; returns the panels."""
    try:
        import matplotlib

        matplotlib.use("Agg")
        import matplotlib.pyplot as plt
        from matplotlib.ticker import MaxNLocator
    except ImportError:
        raise RnncliError("`rnncli plot` needs matplotlib: pip install 'rnncli[plot]' (or pip install matplotlib)") \
            from None
    if not rows:
        raise UserInputError("the run has no completed epoch to plot")
    quantities = [k for k in rows[0] if k not in ("epoch", "seconds", "lr") and not k.startswith("val_")]
    panels = quantities + (["lr"] if any("lr" in row for row in rows) else [])
    epochs = [row["epoch"] for row in rows]
    columns = min(COLUMNS, len(panels))
    grid_rows = -(-len(panels) // columns)
    figure, axes = plt.subplots(grid_rows, columns, figsize=(5 * columns, 3.8 * grid_rows), squeeze=False)
    flat = list(axes.flat)
    for axis, name in zip(flat, panels):
        if name == "lr":
            axis.plot(epochs, [row.get("lr") for row in rows], marker=".", color="tab:green",
                      label="learning rate (last step of the epoch)")
            axis.set_title("learning rate")
        else:
            axis.plot(epochs, [row.get(name) for row in rows], marker="o", label=f"train {name}")
            if f"val_{name}" in rows[0]:
                axis.plot(epochs, [row.get(f"val_{name}") for row in rows], marker="s", label=f"validation {name}")
            axis.set_title(name)
        if best_epoch is not None and best_epoch in epochs:
            axis.axvline(best_epoch, color="grey", linestyle="--", linewidth=1, label=f"best (epoch {best_epoch})")
        axis.set_xlabel("epoch")
        axis.xaxis.set_major_locator(MaxNLocator(integer=True))  # no epoch 1.25
        axis.grid(alpha=0.3)
        axis.legend()
    for axis in flat[len(panels):]:
        axis.set_visible(False)
    figure.suptitle(title)
    figure.tight_layout()
    output.parent.mkdir(parents=True, exist_ok=True)
    figure.savefig(output, dpi=110)
    plt.close(figure)
    return panels
