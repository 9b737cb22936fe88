"""claw-node gossip package."""
