"""The AWS::Serverless-2016-10-31 transform CloudFormation applies to a packaged template, run locally.

Run with the SAM CLI's own interpreter (.tools/sam/bin/python: the translator and the YAML loader `sam`
uses): `python sam_transform.py PACKAGED.yaml PARAMS.json > TRANSFORMED.json`. AWS managed policy names
(none in template.yaml) would be looked up in the IAM that AWS_ENDPOINT_URL points at.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.translator.managed_policy_translator import ManagedPolicyLoader
from samtranslator.translator.transform import transform


def main(packaged: str, parameters: str) -> None:
    template = yaml_parse(Path(packaged).read_text())
    values = json.loads(Path(parameters).read_text())
    out = transform(template, values, ManagedPolicyLoader(boto3.client("iam")))
    json.dump(out, sys.stdout, separators=(",", ":"))


if __name__ == "__main__":
    main(*sys.argv[1:3])
