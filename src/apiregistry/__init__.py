"""The protected-API registry (idp/apis.yml): one model, read by idpctl (to derive Keycloak
objects) and by the hub's token broker (as its allowlist).

Also the one way problems in idp/ files are reported: ``Problem`` names the file and the
object, ``ConfigError`` carries every problem found at once.
"""

from apiregistry.problems import ConfigError, Problem
from apiregistry.registry import (
    JOBS_CLIENT,
    MAX_JOB_DAYS,
    ApiSpec,
    JobsPolicy,
    ScopeSpec,
    apis_of_realm,
    is_name,
    is_object_name,
    load_registry,
    read_yaml,
)

__all__ = [
    "JOBS_CLIENT",
    "MAX_JOB_DAYS",
    "ApiSpec",
    "JobsPolicy",
    "ConfigError",
    "Problem",
    "ScopeSpec",
    "apis_of_realm",
    "is_name",
    "is_object_name",
    "load_registry",
    "read_yaml",
]
