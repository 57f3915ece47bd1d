"""The `portico` commands, one module per audience: routes (the registry), product (API features), local (the local AWS)."""
