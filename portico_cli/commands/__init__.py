"""The `portico` commands, one module per audience: routes (registry), product (API features), local (local AWS)."""
