"""Krippendorff's alpha against the published worked example and the `krippendorff` package.

Reference: Krippendorff (2011), "Computing Krippendorff's Alpha-Reliability", section C: four observers,
twelve units, values 1–5 with gaps; alpha = 0.743 (nominal), 0.815 (ordinal), 0.849 (interval),
0.797 (ratio).
"""

from __future__ import annotations

import numpy as np
import pytest

from llmfeedback_assets.ranking import RankingError, krippendorff_alpha, krippendorff_alpha_long

NAN = np.nan
EXAMPLE = [
    [1, 2, 3, 3, 2, 1, 4, 1, 2, NAN, NAN, NAN],
    [1, 2, 3, 3, 2, 2, 4, 1, 2, 5, NAN, 3],
    [NAN, 3, 3, 3, 2, 3, 4, 2, 2, 5, 1, NAN],
    [1, 2, 3, 3, 2, 4, 4, 1, 2, 5, 1, NAN],
]
PUBLISHED = {"nominal": 0.743, "ordinal": 0.815, "interval": 0.849, "ratio": 0.797}


@pytest.mark.parametrize("level", list(PUBLISHED))
def test_published_worked_example(level):
    assert round(krippendorff_alpha(EXAMPLE, level), 3) == PUBLISHED[level]


def test_nominal_example_exactly():
    # The paper's .743 to full precision: 1 - (n - 1) D_o / D_e with n = 40 pairable values.
    assert krippendorff_alpha(EXAMPLE) == pytest.approx(0.743421052631579, abs=1e-12)


def test_long_form_and_labels_equal_the_table():
    units, values = [], []
    for row in EXAMPLE:
        for u, v in enumerate(row):
            units.append(f"u{u}")
            values.append(None if np.isnan(v) else "abcde"[int(v) - 1])  # labels, not numbers
    assert krippendorff_alpha_long(units, values) == pytest.approx(krippendorff_alpha(EXAMPLE), abs=1e-12)


def test_edge_cases():
    assert krippendorff_alpha([[1, 2, 3], [1, 2, 3]]) == 1.0
    assert np.isnan(krippendorff_alpha([[1, 1, 1], [1, 1, 1]]))  # no expected disagreement
    assert np.isnan(krippendorff_alpha([[1, NAN], [NAN, 2]]))  # no unit with two values
    # A unit with one value adds nothing.
    assert krippendorff_alpha([[1, 2, 3, 4], [1, 2, 2, NAN]]) == krippendorff_alpha([[1, 2, 3], [1, 2, 2]])
    with pytest.raises(RankingError):
        krippendorff_alpha_long(["a"], [1, 2])
    with pytest.raises(RankingError):
        krippendorff_alpha(EXAMPLE, "cardinal")


@pytest.mark.parametrize("level", list(PUBLISHED))
def test_equals_the_krippendorff_package(level):
    krippendorff = pytest.importorskip("krippendorff")
    rng = np.random.default_rng(7)
    for _ in range(5):
        data = rng.integers(1, 6, size=(6, 40)).astype(float)
        data[rng.random(data.shape) < 0.3] = NAN
        ours = krippendorff_alpha(data, level)
        ref = krippendorff.alpha(reliability_data=data, level_of_measurement=level)
        assert ours == pytest.approx(ref, abs=1e-12)
