"""Side by side with Serf: ``python -m simulations.versus_serf`` (see ``__main__``)."""
