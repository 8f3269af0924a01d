"""Test-session order."""

from __future__ import annotations


def pytest_collection_modifyitems(config, items):
    """Run the SLURM tests last. They install Debian's SLURM client, and from then on every Snakemake start
    imports the SLURM executor plugin, which asks `scontrol` for the cluster's settings: with the test cluster
    stopped that takes about 9 s per start, which every later Snakemake run in the session would pay."""
    items.sort(key=lambda item: item.get_closest_marker("slurm") is not None)
