"""Template semantics CloudFormation applies and moto does not.

- TemplateBody over 51,200 bytes is refused (ValidationError); larger templates go through S3 (TemplateURL)
  (https://docs.aws.amazon.com/AWSCloudFormation/latest/UserGuide/cloudformation-limits.html).
- Number parameters: moto hands them to intrinsic functions as numbers, so `!Equals [!Ref Count, "1"]` is
  false for 1; in AWS "when you use the parameter elsewhere in your template (for example, by using the Ref
  intrinsic function), the parameter value becomes a string" (parameters-section-structure.html).
- Parameter values are checked against AllowedValues, AllowedPattern, MinValue and MaxValue, refused with
  CloudFormation's message (moto checks none).
- `AWS::NoValue` in a list (`!If [cond, x, !Ref AWS::NoValue]`) removes the item; moto leaves a None.
- Dependencies: moto orders creation by DependsOn only (and creates a referenced resource on first use);
  CloudFormation also waits for every resource a Ref, Fn::GetAtt or Fn::Sub names, Metadata included. A
  cycle is refused ("Circular dependency between resources").
- A resource type moto does not know is skipped silently by moto; here it fails the template
  ("Unrecognized resource types"), so a gap cannot pass unseen.
- An output whose Condition is false exports nothing (moto evaluates it, and fails on the missing resource).
"""

from __future__ import annotations

import graphlib
import re
from typing import Any

from .. import replace, wrap

TEMPLATE_BODY_MAX_BYTES = 51_200


def _bounded_body(action):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError

        body = self._get_param("TemplateBody")
        if body and len(body.encode()) > TEMPLATE_BODY_MAX_BYTES:
            raise ValidationError(message="1 validation error detected: Value at 'templateBody' failed to satisfy "
                                          f"constraint: Member must have length less than or equal to "
                                          f"{TEMPLATE_BODY_MAX_BYTES}")
        return action(self)

    return wrapper


def _as_text(value: Any) -> Any:
    """A Number parameter's value as CloudFormation hands it on: the string the user gave ('1', not 1)."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return value if isinstance(value, str) else str(value)


def check_parameter(name: str, spec: dict[str, Any], value: Any) -> str | None:
    """Why CloudFormation refuses `value` for parameter `name`, in its words, or None. With a
    ConstraintDescription: "Parameter X failed to satisfy constraint: <it>"
    (https://github.com/aws-ia/taskcat/issues/627); else "Parameter 'X' must be one of AllowedValues"
    (https://github.com/aws-amplify/amplify-cli/issues/6224), "... must match pattern P", "... must be a number"."""
    items = [v.strip() for v in value.split(",")] if isinstance(value, str) and (
        spec.get("Type") == "CommaDelimitedList" or spec.get("Type", "").startswith("List<")) else [value]
    for item in items:
        text = _as_text(item) if isinstance(item, int | float) else str(item)
        if "AllowedValues" in spec and text not in [_as_text(v) if isinstance(v, int | float) else str(v)
                                                    for v in spec["AllowedValues"]]:
            problem = f"Parameter '{name}' must be one of AllowedValues"
        elif "AllowedPattern" in spec and not re.fullmatch(spec["AllowedPattern"], text):
            problem = f"Parameter '{name}' must match pattern {spec['AllowedPattern']}"
        elif spec.get("Type") in ("Number", "List<Number>"):
            try:
                number = float(text)
            except ValueError:
                problem = f"Parameter '{name}' must be a number."
            else:
                problem = (f"Parameter '{name}' must be a number not less than {spec['MinValue']}"
                           if "MinValue" in spec and number < float(spec["MinValue"]) else
                           f"Parameter '{name}' must be a number not greater than {spec['MaxValue']}"
                           if "MaxValue" in spec and number > float(spec["MaxValue"]) else None)
        else:
            problem = None
        if problem:
            return f"Parameter {name} failed to satisfy constraint: {spec['ConstraintDescription']}" \
                if spec.get("ConstraintDescription") else problem
    return None


def _load_parameters(load):
    def wrapper(self):
        from moto.cloudformation.exceptions import ValidationError

        load(self)
        for name, spec in (self._template.get("Parameters") or {}).items():
            value = self.resolved_parameters.get(name)
            given = self.input_parameters.get(name, spec.get("Default"))
            problem = check_parameter(name, spec, given) if given is not None else None
            if problem:
                raise ValidationError(message=problem)
            if spec.get("Type") == "Number":
                self.resolved_parameters[name] = _as_text(value)
            elif spec.get("Type") == "List<Number>":
                self.resolved_parameters[name] = [_as_text(v) for v in value]
        self._parsed_resources.update(self.resolved_parameters)

    return wrapper


def _drop_no_value(clean_json):
    def wrapper(resource_json, resources_map):
        out = clean_json(resource_json, resources_map)
        if isinstance(resource_json, list) and isinstance(out, list):
            return [v for v in out if v is not None]
        return out

    return wrapper


def _known_types_only(resource_class_from_type):
    def wrapper(resource_type):
        from moto.cloudformation import parsing
        from moto.cloudformation.exceptions import ValidationError

        cls = resource_class_from_type(resource_type)
        if cls is None and resource_type not in parsing.NULL_MODELS:
            raise ValidationError(message=f"Template format error: Unrecognized resource types: [{resource_type}]")
        return cls

    return wrapper


def references(node: Any) -> set[str]:
    """Every logical id or parameter a Ref, Fn::GetAtt or Fn::Sub in `node` names."""
    out: set[str] = set()
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "Ref" and isinstance(value, str):
                out.add(value)
            elif key == "Fn::GetAtt":
                out.add(value[0] if isinstance(value, list) else str(value).split(".")[0])
            elif key == "Fn::Sub":
                text = value[0] if isinstance(value, list) else value
                out |= {m.split(".")[0] for m in re.findall(r"\$\{([^!}][^}]*)\}", text)}
                if isinstance(value, list):
                    out |= references(value[1])
            else:
                out |= references(value)
    elif isinstance(node, list):
        for item in node:
            out |= references(item)
    return out


def needs(resources: dict[str, Any]) -> dict[str, set[str]]:
    """What each resource waits for: DependsOn, and every resource a Ref, Fn::GetAtt or Fn::Sub names."""
    graph = {}
    for name, res in resources.items():
        depends = res.get("DependsOn", [])
        graph[name] = ({depends} if isinstance(depends, str) else set(depends)) | (references(res) & set(resources))
        graph[name].discard(name)
    return graph


def _dependency_order(self) -> list[str]:  # bound as ResourceMap's (name-mangled) dependency order
    from moto.cloudformation.exceptions import ValidationError

    try:
        return list(graphlib.TopologicalSorter(needs(self._resource_json_map)).static_order())
    except graphlib.CycleError as exc:
        raise ValidationError(message="Circular dependency between resources: "
                                      f"[{', '.join(sorted(set(exc.args[1])))}]") from None


def _exports(self):  # bound as OutputMap.exports: an output whose condition is false exports nothing
    from moto.cloudformation.parsing import Export, clean_json

    conditions = self._resource_map.lazy_condition_map
    return [Export(self._stack_id, clean_json(out["Export"].get("Name"), self._resource_map),
                   clean_json(out.get("Value"), self._resource_map))
            for out in (self._output_json_map or {}).values()
            if out.get("Export") and ("Condition" not in out or conditions[out["Condition"]])]


def install() -> None:
    from moto.cloudformation import parsing
    from moto.cloudformation.responses import CloudFormationResponse

    wrap(parsing, "clean_json", _drop_no_value)
    wrap(parsing, "resource_class_from_type", _known_types_only)
    wrap(parsing.ResourceMap, "load_parameters", _load_parameters)
    replace(parsing.ResourceMap, "_ResourceMap__get_resources_in_dependency_order", _dependency_order)
    replace(parsing.OutputMap, "exports", property(_exports))
    for action in ("create_stack", "update_stack", "create_change_set", "validate_template"):
        wrap(CloudFormationResponse, action, _bounded_body)
