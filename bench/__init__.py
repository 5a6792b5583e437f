"""Benchmarks: each module runs with `python -m bench.<name>`, prints a table, writes results."""
