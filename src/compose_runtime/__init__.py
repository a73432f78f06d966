"""The compose runtime: the reference stack in Docker containers (compose/compose.yml)."""
