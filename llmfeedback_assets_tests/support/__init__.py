"""Test support: fake model servers, small projects on disk, synthetic data, deploy helpers."""
