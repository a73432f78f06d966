"""The token broker: runs inside JupyterHub and mints per-notebook API tokens.

A notebook server calls ``POST /hub/api/token-exchange`` with its own JupyterHub API token;
the broker checks policy, refreshes the user's Keycloak token when needed, performs an
OAuth 2.0 Token Exchange (RFC 8693) at Keycloak and returns a short-lived access token
for one audience and only the scopes asked for. See docs/broker.md for the contract.

Use it in ``jupyterhub_config.py``::

    c.JupyterHub.authenticator_class = "hubbroker.KeycloakAuthenticator"
"""

from hubbroker.authenticator import KeycloakAuthenticator
from hubbroker.errors import BrokerError
from hubbroker.policy import Policy

__all__ = ["BrokerError", "KeycloakAuthenticator", "Policy"]
