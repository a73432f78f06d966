"""SimpleLocalProcessSpawner (native runtime), its new servers noticed up at once."""

from jupyterhub.spawner import SimpleLocalProcessSpawner

from hubspawners.ready import PromptReady


class PromptLocalProcessSpawner(PromptReady, SimpleLocalProcessSpawner):
    """SimpleLocalProcessSpawner whose ``start()`` returns once the new server answers."""
