"""The hub's spawners: JupyterHub's own (``docker.PromptDockerSpawner`` for compose,
``local.PromptLocalProcessSpawner`` for native), noticed up as soon as a new server answers
(``ready.PromptReady``). One module per spawner: each runtime imports only its own (the native
runtime has no dockerspawner)."""
