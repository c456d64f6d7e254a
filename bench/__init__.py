"""Benchmarks (issue 8): `python -m bench` starts its own embedded stack and prints a table."""
