"""Operator use-cases on top of the pipeline, for the CLI: API keys and usage plans, promotion between
stages, SDK/OpenAPI export, metrics, doctor and graph. The pipeline never imports these."""

from __future__ import annotations

from ..errors import ProductError
from ..settings import Settings


def check_stage(settings: Settings, stage: str, option: str = "--stage") -> str:
    """`stage`, when it is one of the stack's stages; else ProductError naming the option."""
    if stage not in settings.stages:
        raise ProductError(f"{option}: stage {stage!r} is not one of this stack's stages "
                           f"({', '.join(settings.stages)})")
    return stage
