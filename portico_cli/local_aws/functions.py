"""The Lambda functions of template.yaml, loaded the way Lambda loads them: by file, from the function's
CodeUri and Handler. The tests and `portico invoke` both run handlers through here."""

from __future__ import annotations

import importlib.util
from dataclasses import dataclass
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parents[2]
TEMPLATE = ROOT / "template.yaml"


class _Template(yaml.SafeLoader):
    """YAML with CloudFormation's short-form intrinsics (!Ref, !Sub, ...) read as plain values."""


_Template.add_multi_constructor("!", lambda loader, tag, node: None)


@dataclass(frozen=True)
class Function:
    logical_id: str
    folder: Path  # CodeUri
    module: str  # Handler "app.handler" -> module "app", attribute "handler"
    attribute: str
    timeout: int

    @property
    def name(self) -> str:
        return self.folder.name


def functions() -> dict[str, Function]:
    """The template's AWS::Serverless::Function resources by logical id."""
    doc = yaml.load(TEMPLATE.read_text(), Loader=_Template)
    globals_ = (doc.get("Globals") or {}).get("Function") or {}
    out = {}
    for logical_id, res in (doc.get("Resources") or {}).items():
        if res.get("Type") == "AWS::Serverless::Function":
            props = res.get("Properties") or {}
            module, _, attribute = props["Handler"].rpartition(".")
            out[logical_id] = Function(logical_id, ROOT / props["CodeUri"], module, attribute,
                                       int(props.get("Timeout") or globals_.get("Timeout") or 3))
    return out


def find(name: str) -> Function:
    """A function by logical id (as `sam local invoke` takes it) or by folder name under functions/."""
    for fn in functions().values():
        if name in (fn.logical_id, fn.name, f"functions/{fn.name}"):
            return fn
    raise KeyError(name)


def load_handler(function: str):
    """Import the function's handler module by file, as Lambda does from its Handler, and return the handler."""
    fn = find(function)
    spec = importlib.util.spec_from_file_location(f"lambda_{fn.name}", fn.folder / f"{fn.module}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return getattr(module, fn.attribute)
