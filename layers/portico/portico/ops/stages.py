"""Stage lifecycle dev → QA → prod: promote, rollback, history, prune.

Reconciles deploy to the first stage only. `promote --from A --to B` points B at A's deployment (no new
deployment: B serves exactly what A was tested with). Each stage keeps a history in portico's state
table (`stagehist#<stage>`): promote and rollback append to it, and every look at a stage first records
what the history has not seen: on the reconciled stage, every reconcile deployment made since (their
descriptions start with `portico: `); on any stage, a deployment it points to (a change made elsewhere).
`rollback --stage S` points S at the deployment before its current one in that history.

`prune` (run by every promote and rollback) deletes the deployments no stage can return to: the ones no
stage serves that are in no stage's history, and the ones that route through a VPC link the pool no longer
has (portico records each reconcile deployment's links), which it also takes out of the histories. API
Gateway refuses to delete a VPC link while a stage serves a deployment through it, so lowering the pool or
deleting the stack needs each stage moved off those deployments first (docs/deploy.md), and a rollback must
never move a stage back onto a deleted link.
"""

from __future__ import annotations

import time
from dataclasses import asdict, dataclass
from typing import Any

from botocore.exceptions import ClientError

from ..errors import ProductError, is_not_found
from ..state import StateTable
from . import check_stage

MAX_HISTORY = 100
RECONCILE_PREFIX = "portico: "  # the description of every deployment a reconcile makes


@dataclass(frozen=True)
class Event:
    at: float
    action: str  # deploy | promote | rollback
    deployment_id: str
    description: str = ""
    source: str | None = None  # the stage promoted from


def pointer_stack(events: list[Event]) -> list[str]:
    """The deployments a stage has pointed to, oldest first, with rolled-back ones popped. Pure."""
    stack: list[str] = []
    for e in events:
        if e.action == "rollback":
            if stack:
                stack.pop()
            if not stack or stack[-1] != e.deployment_id:
                stack.append(e.deployment_id)
        elif not stack or stack[-1] != e.deployment_id:
            stack.append(e.deployment_id)
    return stack


class Stages:
    def __init__(self, apigw, dynamodb, settings, *, clock=time.time):
        self.apigw, self.settings, self.clock = apigw, settings, clock
        self.state = StateTable(dynamodb, settings.state_table, clock=clock)

    # -- reads --------------------------------------------------------------------------------------
    def stage(self, stage: str) -> dict[str, Any]:
        try:
            return self.apigw.get_stage(restApiId=self.settings.rest_api_id, stageName=stage)
        except ClientError as exc:
            if is_not_found(exc):
                raise ProductError(f"--stage: {stage!r} does not exist on REST API {self.settings.rest_api_id}; "
                                   "deploy the stack's template (it creates the stages)") from None
            raise

    def deployments(self) -> dict[str, dict[str, Any]]:
        pages = self.apigw.get_paginator("get_deployments").paginate(restApiId=self.settings.rest_api_id,
                                                                     PaginationConfig={"PageSize": 500})
        return {d["id"]: d for page in pages for d in page.get("items", [])}

    def _load(self, stage: str) -> list[Event]:
        return [Event(**e) for e in self.state.stage_history(stage)]

    def _save(self, stage: str, events: list[Event]) -> None:
        self.state.save_stage_history(stage, [asdict(e) for e in events[-MAX_HISTORY:]])

    def history(self, stage: str) -> list[Event]:
        """The stage's history, with the deployment it points to now recorded if it was not yet."""
        check_stage(self.settings, stage, "--stage")
        current = self.stage(stage).get("deploymentId")
        events = self._load(stage)
        stack = pointer_stack(events)
        if not current or (stack and stack[-1] == current):
            return events
        deps = self.deployments()
        if stage == self.settings.stage and stack and current in deps:  # reconciles deploy here: record each
            since = _epoch(deps.get(stack[-1], {}).get("createdDate")) or 0
            until = _epoch(deps[current].get("createdDate")) or 0
            seen = {e.deployment_id for e in events} | {current}
            made = sorted((d for d in deps.values() if d["id"] not in seen and since <= (_epoch(d.get("createdDate"))
                           or 0) <= until and _by_reconcile(d.get("description"))),
                          key=lambda d: (_epoch(d.get("createdDate")) or 0, d["id"]))
            events += [Event(_epoch(d.get("createdDate")) or 0, "deploy", d["id"], d.get("description", ""))
                       for d in made]
        dep = deps.get(current, {})
        events.append(Event(_epoch(dep.get("createdDate")) or self.clock(), "deploy", current,
                            dep.get("description", "")))
        self._save(stage, events)
        return events

    # -- changes ------------------------------------------------------------------------------------
    def _point(self, stage: str, deployment_id: str, description: str) -> None:
        self.apigw.update_stage(restApiId=self.settings.rest_api_id, stageName=stage, patchOperations=[
            {"op": "replace", "path": "/deploymentId", "value": deployment_id},
            {"op": "replace", "path": "/description", "value": description[:1024]}])

    def changes(self, older: str | None, newer: str) -> list[dict[str, Any]]:
        """The deployments after `older` up to `newer`, oldest first: what a promotion brings. Ordered by
        createdDate (seconds), which AWS keeps apart: one CreateDeployment per 5 s per account."""
        deps = sorted(self.deployments().values(), key=lambda d: (_epoch(d.get("createdDate")) or 0, d["id"]))
        ids = [d["id"] for d in deps]
        if newer not in ids:
            return []
        end = ids.index(newer) + 1
        start = ids.index(older) + 1 if older in ids else 0
        if start >= end:  # the target is ahead of (or at) the source: the promotion moves it back
            return [deps[ids.index(newer)]]
        # the reconciles' deployments in between (not another stage's creation), and the promoted one
        return [d for d in deps[start:end - 1] if _by_reconcile(d.get("description"))] + [deps[end - 1]]

    def promote(self, source: str, target: str) -> tuple[Event | None, list[dict[str, Any]]]:
        check_stage(self.settings, source, "--from")
        check_stage(self.settings, target, "--to")
        if source == target:
            raise ProductError(f"--to: {target!r} is the --from stage; promote to another stage")
        if target == self.settings.stage:
            raise ProductError(f"--to: {target!r} is the stage reconciles deploy to; promote from it, not to it")
        src = self.stage(source).get("deploymentId")
        if not src:
            raise ProductError(f"--from: stage {source!r} has no deployment to promote")
        self.history(source)
        events = self.history(target)
        current = pointer_stack(events)[-1] if events else None
        if current == src:
            return None, []
        brought = self.changes(current, src)
        what = "; ".join(d.get("description") or d["id"] for d in brought) or src
        description = f"promoted from {source} ({src}): {what}"
        self._point(target, src, description)
        event = Event(self.clock(), "promote", src, description, source)
        self._save(target, [*events, event])
        self.prune()
        return event, brought

    def rollback(self, stage: str) -> Event:
        check_stage(self.settings, stage, "--stage")
        self.prune()  # never back onto a deployment through a VPC link the pool no longer has
        events = self.history(stage)
        stack = pointer_stack(events)
        if len(stack) < 2:
            raise ProductError(f"--stage: {stage!r} has no earlier deployment in its history to return to "
                               "(`portico history --stage " + stage + "`)")
        current, previous = stack[-1], stack[-2]
        if previous not in self.deployments():
            raise ProductError(f"--stage: the previous deployment {previous} of {stage!r} no longer exists")
        description = f"rolled back from {current} to {previous}"
        self._point(stage, previous, description)
        event = Event(self.clock(), "rollback", previous, description)
        self._save(stage, [*events, event])
        self.prune()
        return event

    def prune(self) -> list[str]:
        """Delete the deployments no stage can return to (module docstring); returns their ids."""
        pool = {*self.settings.vpc_link_ids, self.settings.vpc_link_v2_id} - {""}  # the links the stack still has
        gone = {d for d, links in self.state.deployment_links(self.settings.stage).items() if not set(links) <= pool}
        serving = {stage: self.stage(stage).get("deploymentId") for stage in self.settings.stages}
        keep = {d for d in serving.values() if d}
        for stage in self.settings.stages:
            events = self.history(stage)
            kept = [e for e in events if e.deployment_id not in gone or e.deployment_id == serving[stage]]
            if kept != events:
                self._save(stage, kept)
            keep |= set(pointer_stack(kept))
        deleted = []
        for deployment_id in sorted(set(self.deployments()) - keep):
            try:
                self.apigw.delete_deployment(restApiId=self.settings.rest_api_id, deploymentId=deployment_id)
                deleted.append(deployment_id)
            except ClientError as exc:  # gone already, or a stage was just pointed at it: keep it
                if exc.response["Error"]["Code"] not in ("NotFoundException", "BadRequestException"):
                    raise
        return deleted


def _by_reconcile(description: str | None) -> bool:
    """A reconcile's deployment ("portico: orders, users", "portico: resume"), not a stage's creation."""
    text = description or ""
    return text.startswith(RECONCILE_PREFIX) and not text.startswith(RECONCILE_PREFIX + "create ")


def _epoch(value: Any) -> float | None:
    if value is None:
        return None
    if isinstance(value, (int, float)):
        return float(value)
    try:
        return value.timestamp()
    except AttributeError:
        return None
