"""The token-file name rule: the client's ``hubtokens.files`` checks the user's names with it,
``apiregistry`` the admin's (``token_files:`` in idp/apis.yml)."""

from __future__ import annotations

import re

#: A token file's name: one path segment, not hidden.
FILE_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]*$")
