#!/bin/sh
# Entrypoint of our Python images: trust an extra CA bundle (a corporate TLS proxy) when one
# is mounted at /etc/ssl/extra-ca.pem, in addition to the system CAs (Python's ssl, httpx,
# requests, pip). Harmless when the file is absent or empty.
set -e
if [ -s /etc/ssl/extra-ca.pem ]; then
  bundle="${TMPDIR:-/tmp}/ca-bundle.pem"
  cat /etc/ssl/certs/ca-certificates.crt /etc/ssl/extra-ca.pem > "$bundle"
  export SSL_CERT_FILE="$bundle" REQUESTS_CA_BUNDLE="$bundle" PIP_CERT="$bundle"
fi
exec "$@"
