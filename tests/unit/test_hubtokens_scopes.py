"""The one scope normalisation (client, auth and broker), the one unverified JWT reader and
the one expiry rule."""

import subprocess
import sys

import jwt
import pytest

from tokencontract.claims import unverified_claims
from tokencontract.expiry import usable
from tokencontract.scopes import SCOPE_FORM, normalize_scope

pytestmark = pytest.mark.filterwarnings("ignore::jwt.warnings.InsecureKeyLengthWarning")


@pytest.mark.parametrize(
    "scope",
    [
        "fruits:write fruits:read",
        "  fruits:read   fruits:write ",
        "fruits:read\tfruits:write fruits:read",
        ["fruits:write", "fruits:read"],
        ("fruits:read", "fruits:write", "fruits:write"),
        ["fruits:read fruits:write"],  # list items may be space-separated
        ["fruits:write", " fruits:read ", ""],
    ],
)
def test_strings_and_lists_give_the_same_sorted_tuple(scope):
    assert normalize_scope(scope) == ("fruits:read", "fruits:write")


@pytest.mark.parametrize("scope", [None, "", "   ", [], ()])
def test_nothing_gives_an_empty_tuple(scope):
    assert normalize_scope(scope) == ()


@pytest.mark.parametrize(
    "scope",
    [
        ["fruits:read", 3],
        ["fruits:read", None],
        [b"fruits:read"],
        b"fruits:read",
        5,
        1.5,
        True,
        {"fruits:read": True},
        {"fruits:read"},
    ],
)
def test_anything_else_is_a_value_error_naming_the_form(scope):
    with pytest.raises(ValueError) as info:
        normalize_scope(scope)
    assert str(info.value) == SCOPE_FORM
    assert "space-separated string or a list of scope names" in str(info.value)


def test_unverified_claims_reads_any_jwt_and_nothing_else():
    claims = {"sub": "alice", "exp": 1, "aud": "fruit-api"}  # expired, audience not checked
    assert unverified_claims(jwt.encode(claims, "k", algorithm="HS256")) == claims
    for not_a_jwt in ("not-a-jwt", "", None, "a.b.c"):
        assert unverified_claims(not_a_jwt) == {}


@pytest.mark.parametrize(
    ("expires_at", "margin", "now", "expected"),
    [(100, 30, 69, True), (100, 30, 70, False), (100, 0, 100, False), (100, 0, 99.5, True)],
)
def test_usable_while_more_than_the_margin_is_left(expires_at, margin, now, expected):
    assert usable(expires_at, margin, now) is expected


HUB_PACKAGES = (
    "{'stackconf', 'yaml', 'jupyterhub', 'oauthenticator', 'traitlets', 'tornado', 'apiregistry'}"
)


def test_the_notebook_client_imports_no_hub_packages():
    """The client imports where none of the hub's packages is installed (they are made
    unimportable here), and imports none of them where they are. Tornado is the exception
    to the second check: tenacity (the client's retries) imports it when it is installed,
    as it is in every Jupyter server; the first check shows the client does not need it."""
    without = (
        "import sys\n"
        "class NotInstalled:\n"
        "    def find_spec(self, name, path=None, target=None):\n"
        f"        if name.partition('.')[0] in {HUB_PACKAGES}:\n"
        "            raise ImportError(name + ' is not installed here')\n"
        "sys.meta_path.insert(0, NotInstalled())\n"
        "import hubtokens, hubtokens.auth, hubtokens.client, tokencontract.scopes\n"
        "hubtokens.TokenClient('http://hub.test/hub/api', 'token')\n"
    )
    subprocess.run([sys.executable, "-c", without], check=True)
    beside = (
        "import sys, hubtokens, hubtokens.auth, hubtokens.client, tokencontract.scopes\n"
        f"bad = ({HUB_PACKAGES} - {{'tornado'}}) & set(sys.modules)\n"
        "assert not bad, bad\n"
    )
    subprocess.run([sys.executable, "-c", beside], check=True)
