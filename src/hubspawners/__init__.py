"""The hub's spawners: JupyterHub's own (``docker.PromptDockerSpawner`` for compose,
``local.PromptLocalProcessSpawner`` for native), noticed up as soon as a new server answers
(``ready.PromptReady``); local servers get a runtime directory in memory
(``runtimedir.RuntimeDir``), as containers get a tmpfs. One module per spawner: each runtime
imports only its own (the native runtime has no dockerspawner)."""
