"""The stack lifecycle: create, roll back, delete, as CloudFormation runs them.

- Resources are made in dependency order (template.py) before the outputs are read; a stack's outputs and
  exports exist once it is settled (moto evaluates them first, making every resource they name out of order).
- A stack whose creation fails rolls back (ROLLBACK_COMPLETE): every resource it created is deleted except
  `DeletionPolicy: Retain`, so `RetainExceptOnCreate` resources go too; moto leaves a half-made stack. On a
  stack delete `RetainExceptOnCreate` keeps the resource, like Retain (moto deletes it).
- A delete takes a resource after everything that depends on it and otherwise the earliest made first
  (CloudFormation deletes independent resources in parallel, so a dependency the template does not declare
  must break here too); a failed delete is not retried: the resource and the stack are DELETE_FAILED, the
  stack stays, and deleting it again retries.
"""

from __future__ import annotations

import graphlib

from .. import replace, wrap
from .template import needs

KEEP_ON_DELETE = ("Retain", "RetainExceptOnCreate")


KEEP_ON_ROLLBACK = ("Retain",)


class DeleteFailed(Exception):
    """Some resources could not be deleted: the stack ends DELETE_FAILED (or ROLLBACK_FAILED) and stays."""


def event(stack, name: str, resource_type: str, status: str, physical: str = "", reason: str | None = None) -> None:
    """One resource event on `stack`, as CloudFormation reports it."""
    from moto.cloudformation.models import Event

    stack.events.append(Event(stack_id=stack.stack_id, stack_name=stack.name, logical_resource_id=name,
                              physical_resource_id=physical, resource_type=resource_type, resource_status=status,
                              resource_status_reason=reason, resource_properties=None))


def delete_resources(resource_map, keep: tuple[str, ...], stack) -> None:
    """Delete what the stack made, keeping resources whose DeletionPolicy is in `keep`; one event per resource
    (DELETE_COMPLETE, DELETE_SKIPPED or DELETE_FAILED) on `stack`, as CloudFormation reports them.

    CloudFormation deletes a resource only after everything that depends on it, and resources with no
    dependency between them in parallel: so here, among those free to go, the earliest created goes first
    (the order that a dependency the template forgot to declare breaks), a failure is not retried, and what
    the failed resource depends on stays ("DELETE_FAILED ... Resource could not be deleted"), as on AWS."""
    parsed, resources = resource_map._parsed_resources, resource_map._resource_json_map
    created = [name for name in parsed if name in resources and hasattr(parsed[name], "cf_resource_type")]
    pending = [name for name in created if resources[name].get("DeletionPolicy") not in keep]

    def report(name: str, status: str, reason: str | None = None) -> None:
        event(stack, name, resources[name]["Type"], status,
              str(getattr(parsed.get(name), "physical_resource_id", "")), reason)

    for name in created:
        if name not in pending:
            report(name, "DELETE_SKIPPED")
    failed: dict[str, str] = {}
    for name in _deletion_order(created, pending, resources, parsed):
        try:
            resource_map._delete_resource(parsed[name], resources[name])
        except Exception as exc:  # noqa: BLE001 - reported on the resource, as CloudFormation does
            failed[name] = getattr(exc, "message", None) or str(exc)
            report(name, "DELETE_FAILED", failed[name])
            continue
        report(name, "DELETE_COMPLETE")
        parsed.pop(name, None)
    if failed:
        raise DeleteFailed("The following resource(s) failed to delete: [" + ", ".join(sorted(failed)) + "]. "
                           + " ".join(failed.values()))


def _deletion_order(created: list[str], pending: list[str], resources: dict, parsed: dict):
    """`pending`, each after all that depend on it, the earliest created first among those free to go; one the
    caller failed to delete (it is still in `parsed`) holds back what it depends on."""
    waits = {n: deps & set(pending) for n, deps in needs({n: resources[n] for n in created}).items() if n in pending}
    order = graphlib.TopologicalSorter({n: {m for m in pending if n in waits[m]} for n in pending})
    order.prepare()
    ready: list[str] = []
    while order.is_active():
        ready = sorted({*ready, *order.get_ready()}, key=created.index)
        if not ready:
            return  # what is left waits for a resource that failed
        name = ready.pop(0)
        yield name
        if name not in parsed:
            order.done(name)


def _tag_failure(parse_and_create):
    def wrapper(logical_id, *args, **kwargs):
        try:
            return parse_and_create(logical_id, *args, **kwargs)
        except Exception as exc:
            if not hasattr(exc, "portico_logical_id"):
                exc.portico_logical_id = logical_id
            raise

    return wrapper


def _create_or_roll_back(create_resources):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError

        try:
            return create_resources(self)
        except ValidationError:
            raise  # the template itself is refused: no stack operation starts
        except Exception as exc:  # noqa: BLE001 - any resource failure rolls the stack back
            logical = getattr(exc, "portico_logical_id", "?")
            reason = getattr(exc, "message", None) or str(exc)
            event(self, logical, self.template_dict["Resources"].get(logical, {}).get("Type", ""), "CREATE_FAILED",
                  reason=reason)
            self.status = "ROLLBACK_IN_PROGRESS"
            self._add_stack_event("ROLLBACK_IN_PROGRESS", resource_status_reason=(
                f"The following resource(s) failed to create: [{logical}]. Rollback requested by user."))
            try:
                delete_resources(self.resource_map, KEEP_ON_ROLLBACK, self)
            except Exception as undo:  # noqa: BLE001 - what could not be deleted stays, as in AWS
                self.status = "ROLLBACK_FAILED"
                self._add_stack_event("ROLLBACK_FAILED", resource_status_reason=getattr(undo, "message", str(undo)))
                return
            self.status = "ROLLBACK_COMPLETE"
            self._add_stack_event("ROLLBACK_COMPLETE")

    return wrapper


def _create_stack(self, name, template, parameters, notification_arns=None, tags=None, role_arn=None,
                  enable_termination_protection=False, timeout_in_mins=None, stack_policy_body=None):
    """moto's CreateStack, with the resources made (in dependency order) before the outputs are read: moto
    reads the exports first, which makes every resource an output names at once, out of order."""
    from moto.cloudformation.exceptions import AlreadyExistsException
    from moto.cloudformation.models import Stack
    from moto.cloudformation.utils import generate_stack_id

    if name in [stack.name for stack in self.stacks.values()]:
        raise AlreadyExistsException(f"Stack {name} already exists")
    stack = Stack(stack_id=generate_stack_id(name, self.region_name, self.account_id), name=name, template=template,
                  parameters=parameters, account_id=self.account_id, region_name=self.region_name,
                  notification_arns=notification_arns, tags=tags, role_arn=role_arn,
                  cross_stack_resources=self.exports, enable_termination_protection=enable_termination_protection,
                  timeout_in_mins=timeout_in_mins, stack_policy_body=stack_policy_body)
    self.stacks[stack.stack_id] = stack
    stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
    stack.create_resources()
    if stack.status == "CREATE_COMPLETE":
        self._validate_export_uniqueness(stack)
        for export in stack.exports:
            self.exports[export.name] = export
    return stack


SETTLED = ("CREATE_COMPLETE", "UPDATE_COMPLETE", "UPDATE_ROLLBACK_COMPLETE")


def _only_when_settled(prop, otherwise=None):
    """A stack's outputs exist once it is created; moto evaluates them anyway, making missing resources."""
    def getter(self):
        return prop.fget(self) if self.status in SETTLED else otherwise

    return property(getter)


def _made_resources(self):  # bound as Stack.stack_resources: what exists, never made by being listed
    return [r for r in self.resource_map._parsed_resources.values() if hasattr(r, "cf_resource_type")]


def _delete_keeping(self) -> None:  # bound as Stack.delete
    self._add_stack_event("DELETE_IN_PROGRESS", resource_status_reason="User Initiated")
    try:
        delete_resources(self.resource_map, KEEP_ON_DELETE, self)
    except DeleteFailed as exc:
        self.status = "DELETE_FAILED"
        self._add_stack_event("DELETE_FAILED", resource_status_reason=str(exc))
        raise
    self._add_stack_event("DELETE_COMPLETE")
    self.status = "DELETE_COMPLETE"


def _delete_stack(delete_stack):  # CloudFormationBackend.delete_stack
    """A stack whose delete failed stays, DELETE_FAILED, with its exports; deleting it again retries."""

    def wrapper(self, name_or_stack_id: str) -> None:
        stack = self.stacks.get(name_or_stack_id) or next(
            (st for st in self.stacks.values() if st.name == name_or_stack_id), None)
        try:
            delete_stack(self, stack.stack_id if stack else name_or_stack_id)
        except DeleteFailed:
            self.stacks[stack.stack_id] = stack
            self.deleted_stacks.pop(stack.stack_id, None)

    return wrapper


def install() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.models import CloudFormationBackend, Stack

    wrap(parsing, "parse_and_create_resource", _tag_failure)
    wrap(Stack, "create_resources", _create_or_roll_back)
    replace(CloudFormationBackend, "create_stack", _create_stack)
    replace(Stack, "delete", _delete_keeping)
    wrap(CloudFormationBackend, "delete_stack", _delete_stack)
    wrap(Stack, "outputs", _only_when_settled)
    wrap(Stack, "exports", lambda original: _only_when_settled(original, []))
    replace(Stack, "stack_resources", property(_made_resources))
