"""Dagster wiring (thin): assets, checks, partitions, sensors, schedules, jobs, resources."""
