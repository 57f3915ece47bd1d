"""API product features on top of the routing pipeline: stage method settings (throttling, caching,
detailed metrics), per-service alarms and the dashboard, API keys and usage plans, promotion between
stages, SDK/OpenAPI export, metrics, doctor and graph."""


class ProductError(ValueError):
    """Bad input or a state the command cannot act on; the message names the field and the rule."""
