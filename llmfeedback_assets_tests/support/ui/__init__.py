"""Helpers for the browser test (test_ops_ui.py): `dagster dev` as a subprocess and its GraphQL API."""
