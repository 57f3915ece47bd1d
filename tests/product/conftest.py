"""Fixtures of the product tests (the session's moto server runs `portico.product.emulator`)."""

