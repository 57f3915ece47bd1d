"""`portico migrate-link`: move every integration of the stack between its VPC links v1 and its VPC link v2.

The choice is written to the state table first (`link#version`), then one reconcile pass re-points every
integration (PutIntegration with the other connectionId, and integrationTarget on v2) and deploys once. Every
later pass, the sweeper's included, plans with the recorded choice: a migration cut short is finished by the
next pass, and running it again changes nothing. A stack needs both kinds of link while it migrates
(template parameter VpcLinkVersion v1+v2).

The pass deploys to the stage reconciles deploy to (the first); every other stage keeps serving its own
deployment, which still routes through the old links, until a deployment reaches it. portico does not push one
there itself: a deployment is a snapshot of the whole API, so that would release the first stage's routes too.
`stages_behind` names those stages and `next_steps` says what to run, in order (promote each, then update the
stack with the new VpcLinkVersion): API Gateway refuses to delete a VPC link that a deployment still uses, so
the stack update that drops the old links fails until no stage serves one that does.
"""

from __future__ import annotations

from ..reconcile import ALL, Outcome, Reconciler
from ..settings import VPC_LINK_IDS, VPC_LINK_V2_ID

VERSIONS = ("v1", "v2")


def migrate_link(reconciler: Reconciler, to: str, *, dry_run: bool = False) -> Outcome:
    settings = reconciler.settings
    if to not in VERSIONS:
        raise ValueError(f"--to {to!r}: expected v1 or v2")
    if to == "v2" and not settings.vpc_link_v2_id:
        raise ValueError(f"--to v2: the stack has no VPC link v2 ({VPC_LINK_V2_ID} is empty); deploy it with "
                         "VpcLinkVersion v1+v2 first")
    if to == "v1" and len(settings.vpc_link_ids) != len(settings.load_balancer_arns):
        raise ValueError(f"--to v1: the stack has no VPC link v1 for each NLB ({VPC_LINK_IDS}); deploy it with "
                         "VpcLinkVersion v1+v2 (at most 4 NLBs) first")
    reconciler.link_version = to
    if not dry_run:
        reconciler.state.set_link_version(to)
    return reconciler.run(ALL, dry_run=dry_run)


def stages_behind(reconciler: Reconciler, to: str) -> dict[str, str]:
    """{stage: its deployment} for the stages, other than the one reconciles deploy to, that serve a deployment
    routing through links other than `to`'settings. What a deployment routes through is what portico recorded when it
    made it (`deploy#<stage>`); a deployment portico did not make (the template's first) routes no service."""
    settings = reconciler.settings
    keep = {settings.vpc_link_v2_id} if to == "v2" else set(settings.vpc_link_ids)
    known = reconciler.state.deployment_links(settings.stage)
    serving = {st["stageName"]: st.get("deploymentId")
               for st in reconciler.clients.apigateway.get_stages(restApiId=settings.rest_api_id).get("item", [])}
    return {stage: serving[stage] for stage in settings.stages
            if stage != settings.stage and stage in serving and not set(known.get(serving[stage]) or ()) <= keep}


def next_steps(settings, behind: dict[str, str], to: str) -> list[str]:
    """What to run, in order, before the stack can drop the other links: each stage behind promoted from the
    stage before it (as a release goes), then the stack update."""
    steps = []
    for i, stage in enumerate(settings.stages):
        if stage in behind:
            steps.append(f"portico promote --from {settings.stages[i - 1]} --to {stage}")
    return steps + [f"update the stack with VpcLinkVersion={to}, passed explicitly (docs/modes.md)"]
