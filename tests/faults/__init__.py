"""Fault injection, deterministic interleaving and the shared test world (see injector.py, world.py)."""
