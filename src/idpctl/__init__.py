"""idpctl: Keycloak realms, clients and protected APIs as files in idp/, validated, planned
and applied through Keycloak's admin REST API."""
