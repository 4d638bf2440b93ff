"""Fixtures of the curation tests."""

import dagster as dg
import pytest


@pytest.fixture
def instance():
    """A throwaway Dagster instance for the test's runs."""
    with dg.instance_for_test() as inst:
        yield inst
