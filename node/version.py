"""The version ``claw-node --version`` prints."""

from __future__ import annotations

from . import __version__

__all__ = ["DISTRIBUTION", "installed_version"]

DISTRIBUTION = "claw-node"
"""The distribution name in ``pyproject.toml``."""


def installed_version() -> str:
    """The installed distribution's version (``importlib.metadata``), or the source tree's
    ``node.__version__`` when the package runs without being installed (a checkout on
    ``PYTHONPATH``). Imported only when asked: ``importlib.metadata`` scans ``sys.path``,
    a cost the agent's start-up does not need."""
    from importlib.metadata import PackageNotFoundError, version

    try:
        return version(DISTRIBUTION)
    except PackageNotFoundError:
        return __version__
