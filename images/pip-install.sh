#!/bin/sh
# `pip install` during an image build. An extra CA bundle (a TLS-intercepting proxy), given as
# the build secret "ca", is trusted besides the system CAs and never stored in a layer. Then the
# packages that slow every start are removed (drop-slow-imports.sh, bound next to this script).
set -e
if [ -s /run/secrets/ca ]; then
  cat /etc/ssl/certs/ca-certificates.crt /run/secrets/ca > /tmp/ca.pem
  export PIP_CERT=/tmp/ca.pem
fi
pip install --no-cache-dir "$@"
rm -rf /tmp/src /tmp/ca.pem
sh "$(dirname "$0")/drop-slow-imports.sh" pip
