"""Errors and warnings of the ranking library."""

from __future__ import annotations

import numpy as np


def show(value) -> str:
    """repr() of a value for an error message, without numpy's np.str_(...) wrappers."""
    return repr(value.item() if isinstance(value, np.generic) else value)


class RankingError(ValueError):
    """Input that cannot be ranked as given (unknown labels, self-comparisons, empty or bad weights, ...)."""


class DisconnectedComparisonsError(RankingError):
    """The comparison graph falls apart into parts that were never compared with each other."""

    def __init__(self, message: str, components: list[list[str]]):
        super().__init__(message)
        self.components = components


class NoFiniteScoresError(RankingError):
    """Connected comparisons without a finite Bradley–Terry maximum (a model never won or never lost)."""


class RankingWarning(UserWarning):
    """A documented fallback was applied (per-component scores, prior added, ...)."""
