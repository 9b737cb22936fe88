"""claw-node node package."""
