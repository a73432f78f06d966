#!/bin/sh
# Give the user the demo notebook once (their home is a per-user volume), then start.
set -e
[ -e "$HOME/fruits-demo.ipynb" ] || cp /opt/demo/fruits-demo.ipynb "$HOME/"
exec jupyterhub-singleuser "$@"
