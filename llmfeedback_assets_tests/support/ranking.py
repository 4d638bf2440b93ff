"""Comparisons drawn from known Bradley–Terry strengths, shared by the ranking tests."""

from __future__ import annotations

import numpy as np
import pandas as pd

LABELS = np.array(["left", "right", "tie"])


def synthetic(n_models: int, n_rows: int, seed: int, tie_share: float = 0.2):
    """Comparisons drawn from known Bradley–Terry strengths, every model in a ring so the graph connects."""
    rng = np.random.default_rng(seed)
    strength = np.exp(rng.normal(0, 1, n_models))
    names = np.array([f"model-{k:03d}" for k in range(n_models)], dtype=object)
    left = rng.integers(0, n_models, n_rows)
    right = (left + rng.integers(1, n_models, n_rows)) % n_models
    ring = np.arange(n_models)
    left[:n_models], right[:n_models] = ring, (ring + 1) % n_models
    p_left = strength[left] / (strength[left] + strength[right])
    u = rng.random(n_rows)
    outcome = np.where(u < tie_share, 2, np.where(rng.random(n_rows) < p_left, 0, 1))
    # A ring of ties gives every model credit both ways, so the maximum-likelihood scores always exist.
    outcome[:n_models] = 2
    return pd.Series(names[left]), pd.Series(names[right]), pd.Series(LABELS[outcome]), strength, names
