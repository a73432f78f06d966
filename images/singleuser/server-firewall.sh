#!/bin/sh
# The single-user image's entrypoint: server-firewall COMMAND...
#
# Started as root (swarm runtime: the hub's SwarmSpawner, with only the capabilities NET_ADMIN,
# SETUID, SETGID and SETPCAP), it applies the user server's own firewall in the container's
# network namespace (src/users_firewall/server.py), then runs COMMAND as jovyan (uid 1000)
# with no capability, an empty bounding set and no_new_privs: nothing the notebook runs can
# change the rules or become root again. If the rules cannot be applied, the server does not
# start. Started as uid 1000 (compose, where the users firewall filters the host's bridge;
# Kubernetes, with NetworkPolicies), it runs COMMAND directly.
#
# As root, nothing here trusts the environment the hub gave: commands are named by absolute
# paths, Python runs isolated (-I) with a fixed PATH and only the firewall's settings, and the
# Docker API filter refuses the dynamic loader's variables (LD_PRELOAD...).
set -eu
user_path=${PATH:-/usr/local/bin:/usr/bin:/bin}
if [ "$(/usr/bin/id -u)" = 0 ]; then
  /usr/bin/env -i PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    USERS_SUBNET="${USERS_SUBNET:-}" \
    USERS_INTERNET_EGRESS="${USERS_INTERNET_EGRESS:-}" \
    HUB_CONNECT_URL="${HUB_CONNECT_URL:-}" \
    SWARM_NODE_ADDRESSES="${SWARM_NODE_ADDRESSES:-}" \
    JUPYTERHUB_SERVICE_URL="${JUPYTERHUB_SERVICE_URL:-}" \
    /usr/local/bin/python3 -I -B -m users_firewall.server
  HOME=/home/jovyan USER=jovyan LOGNAME=jovyan PATH=$user_path
  export HOME USER LOGNAME PATH
  exec /usr/bin/setpriv --reuid=1000 --regid=1000 --init-groups \
    --inh-caps=-all --bounding-set=-all --no-new-privs -- "$@"
fi
exec "$@"
