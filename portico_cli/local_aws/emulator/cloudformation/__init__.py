"""CloudFormation: what moto's stacks lack or get wrong that template.yaml (and `sam deploy`) meets, made as
AWS does. One module per job:

- resources.py: the resource handlers, each type moto lacks or gets wrong made through its service's API;
- models.py: those handlers as moto resource types, and what moto's own models lack (physical ids, deletes);
- template.py: template semantics (size, parameters, `AWS::NoValue`, dependency order, conditional exports);
- custom.py: the custom resource protocol (request, ResponseURL, the answer awaited);
- lifecycle.py: create, rollback and delete of a stack, in dependency order;
- changeset.py and stack_update.py: change sets (the SAM transform, `sam deploy`'s path) and stack updates.
"""

from __future__ import annotations

from . import changeset, custom, lifecycle, models, template


def install() -> None:
    for part in (template, custom, lifecycle, changeset):
        part.install()
    models.install()  # last: HANDLERS is complete (apigateway_domains_cfn adds to it before)
