"""SimpleLocalProcessSpawner (native runtime), its new servers noticed up at once, each with a
runtime directory in memory."""

from jupyterhub.spawner import SimpleLocalProcessSpawner

from hubspawners.ready import PromptReady
from hubspawners.runtimedir import RuntimeDir


class PromptLocalProcessSpawner(PromptReady, RuntimeDir, SimpleLocalProcessSpawner):
    """SimpleLocalProcessSpawner whose ``start()`` returns once the new server answers, and
    whose servers get ``XDG_RUNTIME_DIR`` in memory (``RuntimeDir``)."""
