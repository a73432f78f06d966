#!/bin/sh
# Remove, after `pip install`, packages that slow every start and that nothing here uses.
# Usage: drop-slow-imports.sh [PIP]   (default: pip)
#
# rfc3987-syntax: jsonschema imports it to check the "iri" format and builds about 35 Lark
# parsers while doing so (0.86 s here). jupyter_events imports jsonschema's format checkers, so
# every Jupyter server and the hub paid it at each start (python-jsonschema/jsonschema#1428).
# No Jupyter or JupyterHub schema uses "iri"; without the package jsonschema skips that format.
# Measured in the user image (2 vCPU): a Jupyter server answers 0.47 s after its start, not 1.22 s.
set -e
"${1:-pip}" uninstall --yes -qq rfc3987-syntax
