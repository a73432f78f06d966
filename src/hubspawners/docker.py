"""DockerSpawner (compose runtime), its new servers noticed up at once."""

import docker
from dockerspawner import DockerSpawner

from hubspawners.ready import PromptReady


class PromptDockerSpawner(PromptReady, DockerSpawner):
    """DockerSpawner whose ``start()`` returns once the new server answers."""

    async def remove_object(self) -> None:
        """Remove the user's container, stopping it first if it still runs.

        DockerSpawner removes a container it finds at start ("should have been cleaned up")
        without stopping it, and takes Docker's refusal to remove a running container (409)
        for a removal already under way; the create that follows then fails on the name
        (409). A container the hub lost track of while it ran (the hub restarted, its
        database restored) is such a container: stopped here, then removed."""
        try:
            await self.docker("stop", self.object_id)
        except docker.errors.NotFound:
            return  # gone already
        await super().remove_object()
