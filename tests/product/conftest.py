"""Fixtures of the product tests (the session's moto server runs `portico_cli.local_aws.emulator`)."""

