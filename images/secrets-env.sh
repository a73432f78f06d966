#!/bin/sh
# Swarm runtime: export each Swarm secret the container was given as the variable it names
# (/run/secrets/KC_DB_PASSWORD -> KC_DB_PASSWORD), then run the command (the image's own
# entrypoint and command). Only UPPER_CASE file names are read; the values stay out of the
# service's spec and out of `docker inspect`.
set -eu
for file in /run/secrets/*; do
  name=${file##*/}
  case $name in
    *[!A-Z0-9_]* | [!A-Z]*) continue ;;
  esac
  [ -f "$file" ] || continue
  value=$(cat "$file"; printf x)
  export "$name=${value%x}"
done
exec "$@"
