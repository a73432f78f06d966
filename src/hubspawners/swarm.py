"""SwarmSpawner (swarm runtime): a Swarm service per user server, noticed up at once.

DockerSpawner's ``volumes`` become Swarm mounts: a named volume (the user's home) as a volume
mount, a host path (the extra CA file) as a read-only bind; ``runtime_dir`` adds a tmpfs (the
server's token files never reach a disk). SwarmSpawner itself makes every mount a bind, which
Docker refuses for a volume's name.
"""

from __future__ import annotations

from docker.types import Mount
from dockerspawner import SwarmSpawner
from traitlets import Integer, Unicode

from hubspawners.ready import PromptReady


class PromptSwarmSpawner(PromptReady, SwarmSpawner):
    """SwarmSpawner whose ``start()`` returns once the new server answers."""

    runtime_dir = Unicode(
        "", config=True, help="A tmpfs mounted here in the server's container (empty: none)."
    )
    runtime_dir_bytes = Integer(1024 * 1024, config=True, help="The runtime dir's size.")
    pids_limit = Integer(
        0, config=True, help="The server's process limit (Swarm's Limits.Pids; 0: none)."
    )

    async def docker(self, method, *args, **kwargs):
        """docker-py's call; a service is created with the process limit, which docker-py's
        ``Resources`` cannot express (Docker's API has it since 1.41)."""
        if method == "create_service" and self.pids_limit:
            resources = kwargs["task_template"].setdefault("Resources", {})
            resources.setdefault("Limits", {})["Pids"] = self.pids_limit
        return await super().docker(method, *args, **kwargs)

    @property
    def mounts(self) -> list[Mount]:
        mounts = [
            Mount(
                target=bind["bind"],
                source=source,
                type="bind" if source.startswith("/") else "volume",
                read_only=bind["mode"] == "ro",
            )
            for source, bind in sorted(self.volume_binds.items())
        ]
        if self.runtime_dir:
            # Swarm's tmpfs is root's: sticky and open to all, as /tmp (only the user's own
            # processes run in the container).
            mounts.append(
                Mount(
                    target=self.runtime_dir,
                    source=None,
                    type="tmpfs",
                    tmpfs_size=self.runtime_dir_bytes,
                    tmpfs_mode=0o1777,
                )
            )
        return mounts
