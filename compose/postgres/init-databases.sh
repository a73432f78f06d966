#!/bin/sh
# First start only: one database and owner each for Keycloak and the hub.
set -eu
psql -v ON_ERROR_STOP=1 --username "$POSTGRES_USER" --dbname "$POSTGRES_DB" <<SQL
CREATE USER keycloak WITH PASSWORD '${KEYCLOAK_DB_PASSWORD}';
CREATE DATABASE keycloak OWNER keycloak;
CREATE USER jupyterhub WITH PASSWORD '${HUB_DB_PASSWORD}';
CREATE DATABASE jupyterhub OWNER jupyterhub;
SQL
