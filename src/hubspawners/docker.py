"""DockerSpawner (compose runtime), its new servers noticed up at once."""

from dockerspawner import DockerSpawner

from hubspawners.ready import PromptReady


class PromptDockerSpawner(PromptReady, DockerSpawner):
    """DockerSpawner whose ``start()`` returns once the new server answers."""
