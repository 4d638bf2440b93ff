"""Loss curves as a PNG (shown in the reward-model assets' Dagster metadata)."""

from __future__ import annotations

import io
from collections.abc import Mapping, Sequence

from llmfeedback_assets.reward.data import TrainResult

Curves = Mapping[str, Sequence[float] | Sequence[tuple[int, float]]]


def loss_curve_png(curves: Curves | TrainResult, title: str = "Training loss") -> bytes:
    """A PNG of loss curves: {label: [loss, ...] or [(step, loss), ...]}, or a TrainResult's curves; the
    title names the model, since several reward models' curves sit side by side in the UI."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    if isinstance(curves, TrainResult):
        curves = curves.curves
    fig, ax = plt.subplots(figsize=(6, 3.5), dpi=100)
    drawn = 0
    for label, series in curves.items():
        series = list(series)
        if not series:
            continue
        if isinstance(series[0], tuple | list):
            x, y = zip(*series, strict=True)
        else:
            x, y = range(1, len(series) + 1), series
        ax.plot(x, y, label=label, marker="o" if len(series) < 30 else None, linewidth=1.2)
        drawn += 1
    if not drawn:
        ax.text(0.5, 0.5, "no loss values", ha="center", va="center", transform=ax.transAxes)
    ax.set_title(title)
    ax.set_xlabel("training step")
    ax.set_ylabel("loss (lower is better)")
    ax.grid(alpha=0.3)
    if drawn:
        ax.legend()
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    plt.close(fig)
    return buf.getvalue()
