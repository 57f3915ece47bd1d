"""A stack update (an UPDATE change set executed), as CloudFormation runs it; moto's applies a diff in its own
order, with no custom resource Update, no cleanup phase and no rollback.

- Resources are taken in the new template's dependency order (template.py's): one the stack lacks (or
  whose type or condition changed) is created; one whose properties, resolved, differ is updated; the rest
  stay as they are. A resource update is in place when its type can be (a custom resource, through the
  Update request; types made through their service's API with an updater below; moto's models with an
  update), else a replacement: the new one is made, the old one deleted in the cleanup.
- Custom resources get `Update` with `PhysicalResourceId`, `ResourceProperties` and `OldResourceProperties`;
  a new physical id in the answer is a replacement: the old id gets `Delete` in the cleanup
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/crpg-ref-requesttypes-update.html).
- Cleanup (UPDATE_COMPLETE_CLEANUP_IN_PROGRESS) deletes what the template no longer has and what was
  replaced, after its dependents, keeping `DeletionPolicy: Retain`/`RetainExceptOnCreate`; a failure there
  leaves the resource and still completes the update, as on AWS.
- A failure before the cleanup rolls back (UPDATE_ROLLBACK_IN_PROGRESS → UPDATE_ROLLBACK_COMPLETE): what the
  update made is deleted, what it updated in place is updated back to its old properties (a custom resource
  gets Update with the old ones), and the stack keeps its previous template and outputs
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/using-cfn-updating-stacks.html).
"""

from __future__ import annotations

import contextlib
import copy
import types
import uuid
from typing import Any

from .custom import ask
from .lifecycle import KEEP_ON_DELETE, KEEP_ON_ROLLBACK, DeleteFailed, delete_resources, event
from .models import ApiResource
from .resources import api_error, clients, stage_settings


class UpdateFailed(Exception):
    def __init__(self, logical_id: str, reason: str):
        super().__init__(reason)
        self.logical_id, self.reason = logical_id, reason


# ------------------------------------------------------------------ in-place updaters of API-made types
# Each: update(physical id, new properties, old properties) -> attributes; absent: the type is replaced.


def _function_update(physical, p, old):
    lam = clients("lambda")
    if p.get("Code") != old.get("Code"):
        code = {k: p["Code"][k] for k in ("S3Bucket", "S3Key", "ZipFile") if k in p["Code"]}
        lam.update_function_code(FunctionName=physical, **code)
    config = {k: p[k] for k in ("Runtime", "Handler", "Description", "Environment", "Layers", "DeadLetterConfig",
                                "TracingConfig", "Role") if k in p and p[k] != old.get(k)}
    for key in ("Timeout", "MemorySize"):
        if key in p and p[key] != old.get(key):
            config[key] = int(float(p[key]))
    if config:
        lam.update_function_configuration(FunctionName=physical, **config)
    if p.get("ReservedConcurrentExecutions") != old.get("ReservedConcurrentExecutions"):
        if "ReservedConcurrentExecutions" in p:
            lam.put_function_concurrency(FunctionName=physical,
                                         ReservedConcurrentExecutions=int(float(p["ReservedConcurrentExecutions"])))
        else:
            lam.delete_function_concurrency(FunctionName=physical)
    return {"Arn": lam.get_function(FunctionName=physical)["Configuration"]["FunctionArn"]}


def _stage_update(physical, p, old):
    """A stage keeps its name and API; what the template changed is patched (the deployment only when the
    template names another, so a deployment portico made since stays)."""
    if (p["RestApiId"], p["StageName"]) != (old["RestApiId"], old["StageName"]):
        raise _Replace
    ops = [{"op": "replace", "path": f"/{key[0].lower()}{key[1:]}", "value": str(p.get(key, "")).lower()
            if key == "TracingEnabled" else str(p.get(key, ""))}
           for key in ("DeploymentId", "Description", "TracingEnabled") if p.get(key) != old.get(key)]
    ops += [{"op": "replace", "path": f"/variables/{k}", "value": v} for k, v in (p.get("Variables") or {}).items()
            if (old.get("Variables") or {}).get(k) != v]
    ops += [{"op": "remove", "path": f"/variables/{k}"} for k in old.get("Variables") or {}
            if k not in (p.get("Variables") or {})]
    settings = stage_settings(p)
    ops += [op for op in settings if op not in stage_settings(old)]
    if ops:
        clients("apigateway").update_stage(restApiId=p["RestApiId"], stageName=physical, patchOperations=ops)
    return {}


class _Replace(Exception):
    """The change needs a new resource."""


UPDATERS = {
    "AWS::Lambda::Function": _function_update,
    "AWS::ApiGateway::Stage": _stage_update,
}


# ------------------------------------------------------------------ the update


def _resolved(resource_json: dict[str, Any], resource_map) -> dict[str, Any]:
    from moto.cloudformation.parsing import clean_json

    return clean_json(copy.deepcopy(resource_json.get("Properties") or {}), resource_map)


def _made(resource_map) -> dict[str, Any]:
    return {n: r for n, r in resource_map._parsed_resources.items() if hasattr(r, "cf_resource_type")}


def _custom_request(old, props: dict[str, Any], old_props: dict[str, Any], stack_id: str, account: str,
                    region: str):
    """Send a custom resource `Update`; the resource as the answer leaves it (a new one on a new physical id)."""
    from moto.awslambda.utils import get_backend
    from moto.cloudformation.custom_model import CustomModel

    from ..awslambda import endpoint

    fn = get_backend(account, region).get_function(props["ServiceToken"])
    _, base = old.portico_request
    new = CustomModel(region, str(uuid.uuid4()), old.logical_id, old.resource_name)
    base = {**base, "ServiceToken": props["ServiceToken"], "ResourceProperties": props}
    answer = ask(new, fn, {**base, "RequestType": "Update", "RequestId": new.request_id,
                            "PhysicalResourceId": old.resource_name, "OldResourceProperties": old_props}, endpoint())
    new.portico_request = (fn, base)
    new.resource_name = answer.get("PhysicalResourceId") or old.resource_name
    new.set_data(answer.get("Data") or {})
    new.cf_resource_type, new.logical_resource_id = old.cf_resource_type, old.logical_resource_id
    return new


def _update_one(name: str, old, resource_json: dict[str, Any], props, old_props, new_map, stack):
    """The resource after its update: `old` changed in place, or a new one (old is then replaced)."""
    from moto.cloudformation.custom_model import CustomModel
    from moto.cloudformation.parsing import parse_and_update_resource

    if isinstance(old, CustomModel):
        return _custom_request(old, props, old_props, stack.stack_id, stack.account_id, stack.region_name)
    if isinstance(old, ApiResource) and old.cf_resource_type in UPDATERS:
        try:
            old.attributes = UPDATERS[old.cf_resource_type](old.physical_resource_id, props, old_props)
            old.properties = props
            return old
        except _Replace:
            pass
        except Exception as exc:  # noqa: BLE001 - the service's refusal is the resource's failure reason
            raise api_error(exc) from exc
    elif not isinstance(old, ApiResource) and not hasattr(
            type(old).update_from_cloudformation_json, "__isabstractmethod__"):
        new_map._parsed_resources[name] = old  # moto's update reads the original from the map
        return parse_and_update_resource(name, resource_json, new_map, new_map._account_id, new_map._region_name)
    new_map._parsed_resources.pop(name, None)
    return new_map[name]  # a replacement, made as on create


def update(backend, stack, change_set) -> None:
    """Execute an UPDATE change set on `stack`: update, cleanup, or roll back on the first failure."""
    from moto.cloudformation.exceptions import ValidationError
    from moto.cloudformation.parsing import ResourceMap

    old_map = stack.resource_map
    new_map = ResourceMap(stack.stack_id, stack.name, change_set.parameters, stack.tags, stack.region_name,
                          stack.account_id, change_set.template_dict, backend.exports)
    new_map.load()
    new_map.tags.update({"aws:cloudformation:stack-name": stack.name, "aws:cloudformation:stack-id": stack.stack_id})
    old_exports = [export.name for export in stack.exports]  # read while the stack is settled
    stack.status = "UPDATE_IN_PROGRESS"
    stack._add_stack_event("UPDATE_IN_PROGRESS", resource_status_reason="User Initiated")
    before = _made(old_map)
    done: list[tuple[str, Any, Any]] = []  # (logical id, the resource before or None, the resource after)
    try:
        for name in new_map._ResourceMap__get_resources_in_dependency_order():
            try:
                done += _update_resource(name, before.get(name), old_map, new_map, stack)
            except ValidationError:
                raise
            except Exception as exc:  # noqa: BLE001 - any resource failure rolls the update back
                raise UpdateFailed(name, getattr(exc, "message", None) or str(exc)) from exc
    except UpdateFailed as failure:
        _roll_back(stack, old_map, new_map, done, failure)
        return
    _clean_up(backend, stack, change_set, before, new_map, old_exports)


def _update_resource(name: str, old, old_map, new_map, stack) -> list[tuple[str, Any, Any]]:
    """Create or update one resource of the new template; what changed, as `done` records it."""
    resource_json = new_map._resource_json_map[name]
    condition = resource_json.get("Condition")
    if condition and not new_map.lazy_condition_map[condition]:
        return []
    if old is None or old.cf_resource_type != resource_json["Type"]:
        _event(stack, name, resource_json, "CREATE_IN_PROGRESS")
        new = new_map[name]
        _event(stack, name, resource_json, "CREATE_COMPLETE", new)
        return [(name, None, new)]
    props = _resolved(resource_json, new_map)
    old_props = _resolved(old_map._resource_json_map[name], old_map)
    if props == old_props:
        new_map._parsed_resources[name] = old
        return []
    _event(stack, name, resource_json, "UPDATE_IN_PROGRESS", old)
    new = _update_one(name, old, resource_json, props, old_props, new_map, stack)
    new_map._parsed_resources[name] = new
    _event(stack, name, resource_json, "UPDATE_COMPLETE", new)
    return [(name, old, new)]


def _clean_up(backend, stack, change_set, before: dict[str, Any], new_map, old_exports: list[str]) -> None:
    """Delete what the template dropped (or a false condition now skips) and what was replaced; the stack
    takes the new template, parameters and outputs."""
    old_map = stack.resource_map
    after = _made(new_map)
    gone = {name: r for name, r in before.items() if name not in after or _physical(after[name]) != _physical(r)}
    stack.status = "UPDATE_COMPLETE_CLEANUP_IN_PROGRESS"
    stack._add_stack_event("UPDATE_COMPLETE_CLEANUP_IN_PROGRESS")
    with contextlib.suppress(DeleteFailed):  # left in the account; the update has succeeded (events say which)
        delete_resources(_view(old_map, gone), KEEP_ON_DELETE, stack)
    for name in old_exports:
        backend.exports.pop(name, None)
    stack.resource_map, stack.template, stack.parameters = new_map, change_set.template, change_set.parameters
    stack._parse_template()
    stack.description = stack.template_dict.get("Description")
    stack.output_map = stack._create_output_map()
    stack.status = "UPDATE_COMPLETE"
    stack._add_stack_event("UPDATE_COMPLETE")
    for export in stack.exports:
        backend.exports[export.name] = export


def _event(stack, name: str, resource_json: dict[str, Any], status: str, resource=None, reason: str | None = None):
    event(stack, name, resource_json["Type"], status, _physical(resource) if resource is not None else "", reason)


def _roll_back(stack, old_map, new_map, done, failure: UpdateFailed) -> None:
    resource_json = new_map._resource_json_map[failure.logical_id]
    _event(stack, failure.logical_id, resource_json, "UPDATE_FAILED", None, failure.reason)
    stack.status = "UPDATE_ROLLBACK_IN_PROGRESS"
    stack._add_stack_event("UPDATE_ROLLBACK_IN_PROGRESS", resource_status_reason=(
        f"The following resource(s) failed to update: [{failure.logical_id}]. "))
    problems = []
    made = {name: new for name, old, new in done if old is None or _physical(old) != _physical(new)}
    for name, old, new in reversed(done):  # in-place updates go back to the old properties
        if old is not None and name not in made:
            try:
                props, old_props = (_resolved(old_map._resource_json_map[name], old_map),
                                    _resolved(new_map._resource_json_map[name], new_map))
                restored = _update_one(name, new, old_map._resource_json_map[name], props, old_props, old_map, stack)
                old_map._parsed_resources[name] = restored
            except Exception as exc:  # noqa: BLE001 - reported, the rollback goes on
                problems.append(f"{name}: {getattr(exc, 'message', None) or exc}")
    try:
        delete_resources(_view(new_map, made), KEEP_ON_ROLLBACK, stack)  # what this update made goes
    except DeleteFailed as exc:
        problems.append(str(exc))
    if problems:
        stack.status = "UPDATE_ROLLBACK_FAILED"
        stack._add_stack_event("UPDATE_ROLLBACK_FAILED", resource_status_reason=" ".join(problems))
        return
    stack.status = "UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE_CLEANUP_IN_PROGRESS")
    stack.status = "UPDATE_ROLLBACK_COMPLETE"
    stack._add_stack_event("UPDATE_ROLLBACK_COMPLETE")


def _physical(resource) -> str:
    return str(getattr(resource, "physical_resource_id", id(resource)))


def _view(resource_map, resources: dict[str, Any]):
    """A map holding only `resources`, for lifecycle.py's ordered delete."""
    return types.SimpleNamespace(_parsed_resources=dict(resources), _resource_json_map=resource_map._resource_json_map,
                                 _delete_resource=resource_map._delete_resource)
