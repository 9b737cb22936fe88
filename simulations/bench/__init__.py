"""Benchmarks (scripts, not tests): each prints figures; none runs in CI."""
