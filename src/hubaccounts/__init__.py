"""Accounts in Keycloak, managed from the hub: the Access requests page (approve, reject,
block, unblock) through a Keycloak client of least rights."""
