"""Benchmarks: scripts that print numbers beside a baseline measured in the same run."""
