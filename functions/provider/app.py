"""Lambda entry point; the logic lives in the portico layer."""

from portico.triggers.provider import handler

__all__ = ["handler"]
