"""The hub's configuration, hub/jupyterhub_config.py, loaded as JupyterHub loads it (traitlets)
in the current environment: for the tests that check what it configures."""

from stackconf import settings


def load_hub_config():
    from traitlets.config.loader import PyFileConfigLoader

    path = settings.REPO / "hub" / "jupyterhub_config.py"
    return PyFileConfigLoader(path.name, str(path.parent)).load_config()
