#!/bin/sh
# `pip install` during an image build (images/pip/ is bound at /tmp/pip), in two layers so that
# a change of the sources does not download and install every dependency again:
#   install.sh dependencies SRC EXTRAS  the requirements of SRC/pyproject.toml and EXTRAS
#                                       (dependencies.py)
#   install.sh project SRC EXTRAS       SRC itself, without dependencies; then `pip check`
#                                       proves the first layer brought every one, and the
#                                       commands of packages the image lacks are removed
#                                       (drop-absent-scripts.py)
# An extra CA bundle (a TLS-intercepting proxy), given as the build secret "ca", is trusted
# besides the system CAs and never stored in a layer. Then the packages that slow every start
# are removed (drop-slow-imports.sh, which `make venv` runs too).
set -e
here=$(dirname "$0")
what=$1 src=$2 extras=$3
if [ -s /run/secrets/ca ]; then
  cat /etc/ssl/certs/ca-certificates.crt /run/secrets/ca > /tmp/ca.pem
  export PIP_CERT=/tmp/ca.pem
fi
case "$what" in
  dependencies)
    python "$here/dependencies.py" "$src/pyproject.toml" "$extras" > /tmp/requirements.txt
    pip install --no-cache-dir -r /tmp/requirements.txt
    rm /tmp/requirements.txt ;;
  project)
    pip install --no-cache-dir --no-deps "$src[$extras]"
    pip check
    python "$here/drop-absent-scripts.py" "$src/pyproject.toml" ;;
  *) echo "usage: install.sh dependencies|project SRC EXTRAS" >&2; exit 2 ;;
esac
rm -rf "$src" /tmp/ca.pem
sh "$here/drop-slow-imports.sh" pip
