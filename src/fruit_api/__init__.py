"""The sample protected fruit API: a FastAPI resource server for Keycloak-issued tokens."""

from fruit_api.app import create_app
from fruit_api.settings import Settings

__all__ = ["Settings", "create_app"]
