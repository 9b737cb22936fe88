"""Benchmarks: each module runs as ``python -m simulations.bench.NAME`` and prints its figures
(the list and commands: ``simulations/bench/README.md``)."""
