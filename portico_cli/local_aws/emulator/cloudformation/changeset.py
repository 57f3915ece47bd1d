"""CloudFormation change sets, the way `sam deploy` and `sam delete` use them, on the emulator's stack path.

- CreateChangeSet applies the AWS::Serverless-2016-10-31 transform when the template declares it, as
  CloudFormation does ("transforms are processed when you create a change set": AWS CloudFormation User
  Guide, transform-section-structure.html), with samtranslator, the library CloudFormation's transform is
  built from; the expanded template is the one the stack gets. A template the transform refuses is refused
  at CreateChangeSet with the translator's message (CloudFormation instead makes a FAILED change set whose
  StatusReason carries that message: either way nothing is created). Parameter values are checked against
  the template then too, as CloudFormation does before a change set exists.
- A TemplateURL on the emulator itself (`http://127.0.0.1:PORT/bucket/key`, path style, what SAM CLI sends
  when AWS_ENDPOINT_URL points here) is read from its S3; moto reads path style only for hosts containing
  "localhost".
- ExecuteChangeSet runs on the path CreateStack takes (lifecycle.py: dependency order, custom resources
  answered, rollback on a failure), CREATE and UPDATE alike (stack_update.py), and finishes before its
  answer: SAM's waiters (30 s between polls) find the stack settled at their first call. moto applies a
  change set in its own order, without custom resources' answers or a rollback.
- AWS::S3::BucketPolicy, which SAM CLI's managed stack (aws-sam-cli-managed-default) holds beside its bucket,
  is made through S3's PutBucketPolicy (resources.py; moto knows no such resource type). A policy statement
  whose Condition does not hold has no effect (moto denies). The emulator serves plain HTTP on loopback and
  sets no aws:SecureTransport, so that bucket's "Deny unless TLS" statement does not apply here (on AWS, SAM
  CLI uploads over TLS and it does not apply either).
"""

from __future__ import annotations

import functools
import ipaddress
import json
from typing import Any
from urllib.parse import urlparse

from .. import replace, wrap
from .resources import clients
from .stack_update import update
from .template import references

SAM_TRANSFORM = "AWS::Serverless-2016-10-31"


# ------------------------------------------------------------------ the SAM transform


def _declares_sam(template: dict[str, Any]) -> bool:
    transform = template.get("Transform")
    return SAM_TRANSFORM in (transform if isinstance(transform, list) else [transform])


@functools.lru_cache(maxsize=8)
def _transform(body: str, parameters: str, region: str) -> str:
    """The expanded template (JSON), cached by its input: a second deploy of the same template is instant."""
    import boto3
    from moto.cloudformation.exceptions import ValidationError
    from samtranslator.model.exceptions import InvalidDocumentException
    from samtranslator.parser.parser import Parser
    from samtranslator.translator.translator import Translator
    from samtranslator.utils.py27hash_fix import to_py27_compatible_template, undo_mark_unicode_str_in_template
    from samtranslator.yaml_helper import yaml_parse

    try:
        template = json.loads(body)  # the YAML reader takes 2 s on a packaged template.yaml sent as JSON
    except ValueError:
        template = yaml_parse(body)
    values = json.loads(parameters)
    to_py27_compatible_template(template, values)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=region))
    try:
        # A managed policy named by name (not ARN) needs IAM's list; template.yaml names none.
        out = translator.translate(template, parameter_values=values, get_managed_policy_map=_managed_policies)
    except InvalidDocumentException as exc:
        causes = " ".join(str(getattr(cause, "message", cause)) for cause in exc.causes)
        raise ValidationError(message=f"Transform {SAM_TRANSFORM} failed with: Invalid Serverless Application "
                                      f"Specification document. Number of errors found: {len(exc.causes)}. "
                                      f"{causes}") from None
    return json.dumps(undo_mark_unicode_str_in_template(out))


def _managed_policies() -> dict[str, str]:
    pages = clients("iam").get_paginator("list_policies").paginate(Scope="AWS")
    return {p["PolicyName"]: p["Arn"] for page in pages for p in page["Policies"]}


def _create_change_set(create_change_set):  # CloudFormationBackend.create_change_set
    def wrapper(self, stack_name, change_set_name, template, parameters, *args, **kwargs):
        from moto.cloudformation.exceptions import ValidationError
        from moto.cloudformation.models import Stack
        from moto.cloudformation.parsing import ResourceMap

        if kwargs.get("change_set_type", "CREATE") == "CREATE":
            # A CREATE change set is for a stack that does not exist yet, or that only waits for review: "Stack
            # [X] already exists and cannot be created again with the changeSet [Y]" (ValidationError, recorded in
            # https://github.com/compose-x/ecs_composex/issues/785). moto made a second stack of the same name.
            for stack in [st for st in self.stacks.values() if st.name == stack_name]:
                if stack.status != "REVIEW_IN_PROGRESS":
                    raise ValidationError(message=f"Stack [{stack_name}] already exists and cannot be created again "
                                                  f"with the changeSet [{change_set_name}].")
                del self.stacks[stack.stack_id]  # the placeholder of an earlier CREATE change set

        parsed = Stack.parse_template(template) if template else None
        if parsed and _declares_sam(parsed):
            template = _transform(template, json.dumps(parameters, sort_keys=True), self.region_name)
            parsed = json.loads(template)
        if parsed:  # parameters checked against the template now, not when the change set runs
            ResourceMap("", stack_name, parameters, {}, self.region_name, self.account_id, parsed,
                        self.exports).load()
        return create_change_set(self, stack_name, change_set_name, template, parameters, *args, **kwargs)

    return wrapper


# ------------------------------------------------------------------ TemplateURL


def _on_this_emulator(host: str) -> bool:
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _template_from_s3(self, template_url: str) -> str:  # bound as CloudFormationResponse._get_stack_from_s3_url
    from moto.cloudformation.utils import get_stack_from_s3_url
    from moto.s3.models import s3_backends

    url = urlparse(template_url)
    if _on_this_emulator(url.hostname or ""):
        bucket, key = url.path.lstrip("/").split("/", 1)
        return s3_backends[self.current_account][self.partition].get_object(bucket, key).value.decode()
    return get_stack_from_s3_url(template_url, account_id=self.current_account, partition=self.partition)


# ------------------------------------------------------------------ ExecuteChangeSet


def _execute_change_set(self, change_set_name: str, stack_name: str | None = None) -> None:
    """Run a change set on the stack path (CREATE as CreateStack, UPDATE as stack_update.update)."""
    from moto.cloudformation.exceptions import ValidationError

    change_set = self.change_sets.get(change_set_name) or next(
        (cs for cs in self.change_sets.values() if cs.change_set_name == change_set_name
         and stack_name in (None, "", cs.stack_name, cs.stack_id)), None)
    if change_set is None:
        raise ValidationError(message=f"ChangeSet [{change_set_name}] does not exist")
    if change_set.execution_status != "AVAILABLE":
        raise ValidationError(message=f"ChangeSet [{change_set.change_set_id}] cannot be executed in its current "
                                      f"execution status of [{change_set.execution_status}]")
    stack = self.stacks[change_set.stack_id]
    change_set.execution_status = "EXECUTE_IN_PROGRESS"
    if change_set.change_set_type == "CREATE":
        stack.template, stack.parameters = change_set.template, change_set.parameters
        stack.tags = change_set.tags or stack.tags
        stack._parse_template()
        stack.description = stack.template_dict.get("Description")
        stack.resource_map = stack._create_resource_map()
        stack.output_map = stack._create_output_map()
        stack._add_stack_event("CREATE_IN_PROGRESS", resource_status_reason="User Initiated")
        stack.create_resources()  # in dependency order, rolled back on a failure (lifecycle.py)
        if stack.status == "CREATE_COMPLETE":
            self._validate_export_uniqueness(stack)
            for export in stack.exports:
                self.exports[export.name] = export
    else:
        update(self, stack, change_set)
    change_set.execution_status = "EXECUTE_COMPLETE" if stack.status in ("CREATE_COMPLETE", "UPDATE_COMPLETE") \
        else "EXECUTE_FAILED"
    # A stack has one change set executed; the others made for it can no longer run (AWS deletes them).
    for other in [cs for cs in self.change_sets.values() if cs.stack_id == stack.stack_id and cs is not change_set]:
        other.execution_status = "OBSOLETE"


def _json_first(parse_template):  # Stack.parse_template
    """A JSON template read as JSON: moto reads every template with the YAML reader first (JSON is YAML), which
    takes 0.8 s for the expanded template.yaml, and a deploy reads it several times."""

    def wrapper(template: str):
        try:
            return json.loads(template)
        except ValueError:
            return parse_template(template)

    return staticmethod(wrapper)


def _parse_change_set_template(self) -> None:  # bound as ChangeSet._parse_template
    from moto.cloudformation.models import Stack

    self.template_dict = Stack.parse_template(self.template)


def _diff(self) -> list:  # bound as ChangeSet.diff
    """The change set's Changes: a resource whose definition changed or that names a parameter whose value
    changed (moto lists template edits only, so a parameter-only update showed no change although it applies
    one; and it counted the empty Properties it adds to a created resource as an edit)."""
    from moto.cloudformation.models import Change

    new, old = self.template_dict.get("Resources") or {}, self.stack.resource_map._resource_json_map
    given = self.stack.resource_map.input_parameters
    changed = {name for name, value in (self.parameters or {}).items() if given.get(name) != value}

    def same(a: dict, b: dict) -> bool:
        return {**a, "Properties": a.get("Properties") or {}} == {**b, "Properties": b.get("Properties") or {}}

    actions = {"Add": [n for n in new if n not in old], "Remove": [n for n in old if n not in new],
               "Modify": [n for n in new if n in old and (not same(new[n], old[n]) or references(new[n]) & changed)]}
    return [Change(action=action, logical_resource_id=name, resource_type=(new.get(name) or old[name])["Type"])
            for action, names in actions.items() for name in names]


def _conditional_statement(is_action_permitted):  # IAMPolicyStatement.is_action_permitted
    """A statement whose Condition does not hold has no effect: "All context keys in a condition element block
    must resolve to true to invoke the desired Allow or Deny effect" (IAM User Guide,
    reference_policies_multi-value-conditions.html), and a key absent from the request context matches no
    value unless the operator ends in IfExists (reference_policies_elements_condition_operators.html). moto
    counts an absent key as a match, so the managed bucket's "Deny when aws:SecureTransport is false" (a key
    moto's S3 never sets) refused every upload."""

    def wrapper(self, action, resource="*", principal=None, incoming_condition_values=None):
        from moto.iam.access_control import PermissionResult

        present = incoming_condition_values or {}
        for operator, keys in (self._statement.get("Condition") or {}).items():
            if not operator.endswith("IfExists") and operator != "Null" and any(k not in present for k in keys):
                return PermissionResult.NEUTRAL
        return is_action_permitted(self, action, resource, principal, incoming_condition_values)

    return wrapper


def install() -> None:
    from moto.cloudformation.models import ChangeSet, CloudFormationBackend, Stack
    from moto.cloudformation.responses import CloudFormationResponse
    from moto.iam.access_control import IAMPolicyStatement

    wrap(CloudFormationBackend, "create_change_set", _create_change_set)
    wrap(Stack, "parse_template", _json_first)
    replace(ChangeSet, "_parse_template", _parse_change_set_template)
    replace(ChangeSet, "diff", _diff)
    replace(CloudFormationBackend, "execute_change_set", _execute_change_set)
    replace(CloudFormationResponse, "_get_stack_from_s3_url", _template_from_s3)
    wrap(IAMPolicyStatement, "is_action_permitted", _conditional_statement)
