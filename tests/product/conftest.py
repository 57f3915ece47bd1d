"""The test session's moto server gets the operations portico's emulator adds (UpdateMethod)."""

from portico.product.emulator import install

install()
