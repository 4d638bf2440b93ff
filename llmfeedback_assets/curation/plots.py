"""Images for the curation assets' metadata: T as a heat map, score histograms before/after curation."""

from __future__ import annotations

import io

import numpy as np


def _png(fig) -> bytes:
    import matplotlib.pyplot as plt

    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110, bbox_inches="tight")
    plt.close(fig)
    return buf.getvalue()


def transition_heatmap_png(transition_matrix, title: str = "Score transition matrix") -> bytes:
    """PNG of T with each cell annotated (rows: clean score, columns: the judge's score)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    T = np.asarray(transition_matrix, dtype=float)
    if T.ndim != 2 or T.shape[0] != T.shape[1]:
        raise ValueError(f"transition_matrix must be square, got shape {T.shape}")
    k = T.shape[0]
    fig, ax = plt.subplots(figsize=(1.0 + 0.8 * k, 0.8 + 0.7 * k))
    im = ax.imshow(T, cmap="YlGnBu", vmin=0.0, vmax=1.0)
    for i in range(k):
        for j in range(k):
            ax.text(j, i, f"{T[i, j]:.2f}", ha="center", va="center",
                    color="white" if T[i, j] > 0.6 else "black", fontsize=9)
    ax.set_xticks(range(k))
    ax.set_yticks(range(k))
    ax.set_xlabel("judge's score")
    ax.set_ylabel("clean score")
    ax.set_title(title)
    fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04)
    return _png(fig)


def score_histogram_png(before, after, num_classes: int, title: str = "Scores before and after curation"
                        ) -> bytes:
    """PNG of per-class counts, side by side (values outside [0, num_classes), e.g. -1 for a missing score,
    are left out)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    def counts(values) -> np.ndarray:  # rows without a score (-1) are not drawn
        v = np.asarray(values, dtype=np.int64)
        return np.bincount(v[(v >= 0) & (v < num_classes)], minlength=num_classes)

    b, a = counts(before), counts(after)
    xs = np.arange(num_classes)
    fig, ax = plt.subplots(figsize=(1.5 + 0.7 * num_classes, 3.2))
    ax.bar(xs - 0.2, b, width=0.4, label="judge", color="#9bb7d4")
    ax.bar(xs + 0.2, a, width=0.4, label="curated", color="#2a6f97")
    ax.set_xticks(xs)
    ax.set_xlabel("score class")
    ax.set_ylabel("rows")
    ax.set_title(title)
    ax.legend()
    return _png(fig)
