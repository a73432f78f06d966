"""The swarm runtime: the stack on several Docker hosts (docs/swarm.md)."""
