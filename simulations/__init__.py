"""claw-node simulations package."""
