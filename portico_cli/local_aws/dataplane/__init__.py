"""The local data plane: a real HTTP request goes gateway → VPC link → NLB listener → target group → task.

gateway.py (API Gateway stages), nlb.py (listeners and health checks), agent.py + tasks.py (ECS tasks and their
target registration), controlplane.py (what is read from the emulator), plane.py (the loop that runs them).
Lives with the local AWS; never shipped in the Lambda layer. See docs/dataplane.md.
"""

from .plane import DataPlane

__all__ = ["DataPlane"]
