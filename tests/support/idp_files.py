"""The repository's idp/ folder and the ${VAR} values unit tests load it with."""

from stackconf.settings import REPO

IDP = REPO / "idp"
IDP_VARIABLES = {
    "JUPYTERHUB_CLIENT_SECRET": "hub-secret-x",
    "JUPYTERHUB_EXCHANGE_CLIENT_SECRET": "exchange-secret-x",
    "JUPYTERHUB_ACCOUNTS_CLIENT_SECRET": "accounts-secret-x",
    "DEMO_TOTP_HUBADMIN": "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP",
    "HUB_PUBLIC_URL": "http://localhost:8000",
    "HUB_INTERNAL_URL": "http://127.0.0.1:8081",
    "DEMO_PASSWORD_READER": "pw-reader-1A",
    "DEMO_PASSWORD_CURATOR": "pw-curator-1A",
    "DEMO_PASSWORD_VISITOR": "pw-visitor-1A",
    "DEMO_PASSWORD_HUBADMIN": "pw-hubadmin-1A",
}
