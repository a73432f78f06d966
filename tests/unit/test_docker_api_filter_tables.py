"""The filter's allowlists are data (module-level tables next to their rules): each required key
is on its table, and a rule named by a string is bound when the rules are made, not on a
request."""

from __future__ import annotations

import pytest

from docker_api_filter import containers, services
from docker_api_filter.common import ServerRules
from docker_api_filter.policy import Policy
from tests.support.docker_api_bodies import SETTINGS, SWARM_SETTINGS

TABLES = {
    "CREATE": (containers.CREATE, containers.CREATE_REQUIRED),
    "HOST_CONFIG": (containers.HOST_CONFIG, containers.HOST_CONFIG_REQUIRED),
    "SERVICE": (services.SERVICE, services.SERVICE_REQUIRED),
    "TASK_TEMPLATE": (services.TASK_TEMPLATE, services.TASK_TEMPLATE_REQUIRED),
    "CONTAINER_SPEC": (services.CONTAINER_SPEC, services.CONTAINER_SPEC_REQUIRED),
    "RESOURCES": (services.RESOURCES, services.RESOURCES_REQUIRED),
    "RESTART_POLICY": (services.RESTART_POLICY, services.RESTART_POLICY_REQUIRED),
    "PLACEMENT": (services.PLACEMENT, services.PLACEMENT_REQUIRED),
    "SERVICE_NETWORK": (services.SERVICE_NETWORK, services.SERVICE_NETWORK_REQUIRED),
}


@pytest.mark.parametrize("name", TABLES)
def test_every_required_key_is_on_its_table(name: str) -> None:
    table, required = TABLES[name]
    assert set(required) <= set(table)


@pytest.mark.parametrize("settings", [SETTINGS, SWARM_SETTINGS], ids=["docker", "swarm"])
def test_the_policy_binds_every_rule_of_every_table(settings) -> None:
    policy = Policy(settings)
    bound = [
        policy.containers.create_rules,
        policy.containers.host_config_rules,
        policy.services.service_rules,
        policy.services.task_template_rules,
        policy.services.container_spec_rules,
        policy.services.placement_rules,
        policy.services.network_rules,
    ]
    for rules in bound:
        assert rules and all(callable(rule) for rule in rules.values())


def test_a_misspelt_rule_name_fails_when_the_rules_are_made() -> None:
    with pytest.raises(AttributeError, match="_rule_no_such_rule"):
        ServerRules(SETTINGS).bind({"Image": "_rule_no_such_rule"})
