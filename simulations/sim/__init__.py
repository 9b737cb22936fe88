"""Deterministic simulator: many unmodified ``SwimProtocol`` cores, one process, virtual time.

``SimWorld`` (world.py) drives the cores over a ``SimNetwork`` (network.py) on a
``SimClock`` (clock.py); ``Observatory`` (metrics.py) measures; scenarios.py holds the
named scenarios run by ``python -m simulations``. ``Cluster`` (cluster.py) is a small
name-keyed face of the world for unit tests and micro-benchmarks.
"""

from .clock import SimClock
from .network import NetworkOptions, SimNetwork

__all__ = ["SimClock", "NetworkOptions", "SimNetwork"]
