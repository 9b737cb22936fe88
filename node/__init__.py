"""claw-node node package: the agent a user runs (``claw-node``)."""

__version__ = "0.1.0"
"""claw-node version (kept equal to ``pyproject.toml``)."""
