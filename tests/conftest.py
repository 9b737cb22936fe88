"""Fixtures shared by test modules."""

from tests.lab import make_lab  # noqa: F401  (the multi-host lab fixture)
