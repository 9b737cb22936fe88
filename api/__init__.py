"""claw-node api package."""
