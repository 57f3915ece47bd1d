"""PORTICO_DOMAINS: the stages' custom domain names, read, checked and written back as portico reads them."""

from __future__ import annotations

import pytest

from portico.desired import invoke_url
from portico.settings import DOMAINS, Settings

BASE = {"PORTICO_REST_API_ID": "a1", "PORTICO_LOAD_BALANCER_ARNS": "arn:nlb", "PORTICO_VPC_LINK_IDS": "l1",
        "PORTICO_VPC_ID": "vpc-1", "PORTICO_STAGES": "dev,prod"}


def test_pairs_are_read_lower_cased_and_written_back():
    s = Settings.from_env({**BASE, DOMAINS: "prod=API.example.com, dev=api.dev.example.com"}).check()
    assert s.domains == (("prod", "api.example.com"), ("dev", "api.dev.example.com"))
    assert (s.domain("prod"), s.domain("qa")) == ("api.example.com", None)
    assert Settings.from_env(s.to_env()).domains == s.domains
    assert Settings.from_env(BASE).domains == () and Settings.from_env(BASE).to_env()[DOMAINS] == ""


@pytest.mark.parametrize("value", ["api.example.com", "prod=", "=api.example.com"])
def test_a_malformed_pair_names_the_variable(value):
    with pytest.raises(ValueError, match=f"{DOMAINS}=.*expected stage=domain pairs"):
        Settings.from_env({**BASE, DOMAINS: value})


def test_a_domain_of_a_stage_the_api_lacks_is_refused():
    with pytest.raises(ValueError, match="stage 'qa' must be one of PORTICO_STAGES=dev,prod"):
        Settings.from_env({**BASE, DOMAINS: "qa=api.qa.example.com"}).check()


def test_the_url_on_a_domain_has_no_stage():
    assert invoke_url("a1", "eu-west-1", "prod", "/orders", "api.example.com") == "https://api.example.com/orders"
    assert invoke_url("a1", "eu-west-1", "prod", "/orders") == "https://a1.execute-api.eu-west-1.amazonaws.com/prod/orders"
