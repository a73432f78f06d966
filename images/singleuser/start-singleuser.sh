#!/bin/sh
# Give the user the demo notebooks once (their home is a per-user volume), then start.
set -e
for demo in /opt/demo/*.ipynb; do [ -e "$HOME/${demo##*/}" ] || cp "$demo" "$HOME/"; done
exec jupyterhub-singleuser "$@"
