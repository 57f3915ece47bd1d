"""`portico migrate-link`: move every integration of the stack between its VPC links v1 and its VPC link v2.

The choice is written to the state table first (`link#version`), then one reconcile pass re-points every
integration (PutIntegration with the other connectionId, and integrationTarget on v2) and deploys once. Every
later pass, the sweeper's included, plans with the recorded choice: a migration cut short is finished by the
next pass, and running it again changes nothing. A stack needs both kinds of link while it migrates
(template parameter VpcLinkVersion v1+v2).
"""

from __future__ import annotations

from ..reconcile import ALL, Outcome, Reconciler
from ..settings import VPC_LINK_IDS, VPC_LINK_V2_ID

VERSIONS = ("v1", "v2")


def migrate_link(reconciler: Reconciler, to: str, *, dry_run: bool = False) -> Outcome:
    s = reconciler.settings
    if to not in VERSIONS:
        raise ValueError(f"--to {to!r}: expected v1 or v2")
    if to == "v2" and not s.vpc_link_v2_id:
        raise ValueError(f"--to v2: the stack has no VPC link v2 ({VPC_LINK_V2_ID} is empty); deploy it with "
                         "VpcLinkVersion v1+v2 first")
    if to == "v1" and len(s.vpc_link_ids) != len(s.load_balancer_arns):
        raise ValueError(f"--to v1: the stack has no VPC link v1 for each NLB ({VPC_LINK_IDS}); deploy it with "
                         "VpcLinkVersion v1+v2 (at most 4 NLBs) first")
    reconciler.link_version = to
    if not dry_run:
        reconciler.state.set_link_version(to)
    return reconciler.run(ALL, dry_run=dry_run)
