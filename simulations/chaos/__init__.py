"""Real claw-node processes under real faults: ``python -m simulations.chaos``."""
