"""The ``hubtokens`` command against a fake broker: output, exit statuses, one-line errors."""

import json
import re
import time
from pathlib import Path

import httpx
import jwt
import pytest
from click.testing import CliRunner

from hubtokens import cli
from hubtokens.errors import ERROR_STATUS
from tests.support.contract import BROKER_ERRORS
from tests.support.hubtokens_fakes import API_TOKEN, LISTING, FakeBroker, make_client


class Broker(FakeBroker):
    """FakeBroker that also answers DELETE, as the broker does."""

    def __call__(self, request):
        if request.method == "DELETE":
            self.requests.append(request)
            return httpx.Response(200, json={"forgotten": 2})
        return super().__call__(request)


@pytest.fixture
def broker(monkeypatch):
    fake = Broker()
    monkeypatch.setattr(cli, "_client", lambda: make_client(fake, retry_seconds=0))
    return fake


def run(*args):
    return CliRunner().invoke(cli.main, list(args))


def test_get_prints_the_bare_token_and_nothing_else(broker):
    result = run("get", "fruit-api", "fruits:read", "fruits:exotic")
    assert result.exit_code == 0, result.output
    token = result.stdout.strip()
    assert result.stdout == token + "\n"
    assert jwt.decode(token, options={"verify_signature": False})["aud"] == "fruit-api"
    (sent,) = broker.requests
    assert json.loads(sent.content) == {
        "audience": "fruit-api",
        "scope": "fruits:exotic fruits:read",
    }


def test_get_without_scope_asks_for_the_apis_default(broker):
    assert run("get", "fruit-api").exit_code == 0
    assert json.loads(broker.requests[0].content) == {"audience": "fruit-api"}


def test_list_is_a_table_and_json_on_request(broker):
    table = run("list")
    assert table.exit_code == 0
    header, row = table.stdout.splitlines()
    assert header.split() == [
        "AUDIENCE", "SCOPE", "GRANTED", "ROLE", "GROUPS", "JOBS", "DESCRIPTION"
    ]  # fmt: skip
    assert row.split() == ["fruit-api", "fruits:read", "yes", "fruit-reader", "-", "7d", "read"]
    as_json = run("list", "--json")
    assert json.loads(as_json.stdout) == LISTING


def test_list_says_how_to_get_a_scope_not_granted(broker, monkeypatch):
    scopes = LISTING["audiences"]["fruit-api"]["scopes"]
    monkeypatch.setitem(
        scopes,
        "fruits:write",
        {"description": "w", "role": "fruit-writer", "groups": ["a", "b"], "granted": False},
    )
    result = run("list")
    assert "fruits:write  no       fruit-writer  a,b     -     w" in result.stdout
    assert "ask an admin" in result.stderr


def test_inspect_shows_claims_and_header_never_the_signature(broker):
    token = run("get", "fruit-api", "fruits:read").stdout.strip()
    signature = token.rsplit(".", 1)[1]
    result = run("inspect", "fruit-api", "fruits:read")
    assert result.exit_code == 0
    assert "claim   aud" in result.stdout and "fruit-api" in result.stdout
    assert "header  alg" in result.stdout and "HS256" in result.stdout
    as_json = json.loads(run("inspect", "fruit-api", "--json").stdout)
    assert as_json["claims"]["aud"] == "fruit-api" and as_json["header"]["alg"] == "HS256"
    for output in (result.stdout, json.dumps(as_json)):
        assert signature not in output and token not in output


def test_time_claims_are_shown_with_the_local_time():
    assert cli._shown("exp", 1_800_000_000).startswith("1800000000 (2027-")
    assert cli._shown("aud", ["a", "b"]) == '["a", "b"]'


def test_forget_asks_the_broker_to_forget(broker):
    result = run("forget")
    assert result.exit_code == 0
    assert [r.method for r in broker.requests] == ["DELETE"]
    assert "forgot 2 cached tokens" in result.stdout


def test_every_error_code_has_its_own_exit_status():
    statuses = [cli.EXIT_STATUS[code] for code in ERROR_STATUS]
    assert len(set(statuses)) == len(statuses)
    local = {"not_in_jupyterhub", "broker_unreachable", "error", "token_files"}
    assert set(ERROR_STATUS) | local == set(cli.EXIT_STATUS)
    assert 0 not in cli.EXIT_STATUS.values() and 2 not in cli.EXIT_STATUS.values()  # click: usage


@pytest.mark.parametrize(("code", "status", "exception"), BROKER_ERRORS)
def test_a_broker_error_is_one_line_and_its_exit_status(broker, code, status, exception):
    message = f"The broker said no ({code}).\nSecond line."
    broker.error = (status, json.dumps({"error": code, "message": message}).encode())
    result = run("get", "fruit-api", "fruits:read")
    assert result.exit_code == cli.EXIT_STATUS[code]
    assert result.stdout == ""
    (line,) = result.stderr.splitlines()
    assert line.startswith(f"hubtokens: {code}: The broker said no ({code}). Second line.")
    assert "Traceback" not in result.output and API_TOKEN not in result.output


def test_outside_a_hub_it_says_so(monkeypatch):
    monkeypatch.delenv("JUPYTERHUB_API_URL", raising=False)
    monkeypatch.delenv("JUPYTERHUB_API_TOKEN", raising=False)
    result = run("get", "fruit-api")
    assert result.exit_code == cli.EXIT_STATUS["not_in_jupyterhub"]
    assert result.stderr.startswith("hubtokens: not_in_jupyterhub: JUPYTERHUB_API_URL")


def test_an_unreachable_hub_is_its_own_status(monkeypatch):
    def refuse(request):
        raise httpx.ConnectError("connection refused")

    http = httpx.Client(transport=httpx.MockTransport(refuse))
    monkeypatch.setattr(
        cli,
        "_client",
        lambda: cli.TokenClient(
            "http://hub.test/hub/api", API_TOKEN, http_client=http, retry_seconds=0
        ),
    )
    result = run("list")
    assert result.exit_code == cli.EXIT_STATUS["broker_unreachable"]
    assert "Could not reach the hub's token broker" in result.stderr


def test_help_explains_with_an_example():
    result = run("--help")
    assert result.exit_code == 0
    assert "hubtokens get fruit-api fruits:read" in result.stdout
    for command in ("get", "list", "inspect", "forget"):
        assert command in result.stdout


def test_the_docs_table_of_exit_statuses_is_the_commands():
    docs = Path(__file__).resolve().parents[2] / "docs" / "tokens-everywhere.md"
    documented = {
        m.group(2): int(m.group(1))
        for m in re.finditer(r"^\| (\d+) \| `([a-z_]+)` \|", docs.read_text(), re.MULTILINE)
    }
    assert documented == cli.EXIT_STATUS


def test_files_lists_the_admins_and_the_users_with_their_state(broker, monkeypatch, tmp_path):
    listing = json.loads(json.dumps(LISTING))
    listing["audiences"]["fruit-api"]["token_files"] = {"fruit-api": ["fruits:read"]}
    broker.listing = listing
    (tmp_path / "hubtokens").mkdir()
    (tmp_path / "config" / "hubtokens").mkdir(parents=True)
    (tmp_path / "config" / "hubtokens" / "files.toml").write_text(
        '[exotic]\naudience = "fruit-api"\nscopes = ["fruits:exotic"]\n'
    )
    future = int(time.time()) + 200
    (tmp_path / "hubtokens" / "fruit-api").write_text(jwt.encode({"exp": future}, "k" * 32))
    monkeypatch.setenv("XDG_RUNTIME_DIR", str(tmp_path))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path / "config"))
    result = run("files")
    assert result.exit_code == 0, result.output
    header, exotic, fruit = result.stdout.splitlines()
    assert header.split() == ["FILE", "AUDIENCE", "SCOPES", "FROM", "NOW"]
    assert exotic.split()[:2] == [f"{tmp_path}/hubtokens/exotic", "fruit-api"]
    assert exotic.split()[-1] == "missing"
    assert fruit.split()[:4] == [
        f"{tmp_path}/hubtokens/fruit-api",
        "fruit-api",
        "fruits:read",
        "idp/apis.yml",
    ]
    assert re.search(r"expires in 3m [12]\ds$", fruit)


def test_files_names_a_wrong_user_file_with_its_own_exit_status(broker, monkeypatch, tmp_path):
    (tmp_path / "hubtokens").mkdir()
    (tmp_path / "hubtokens" / "files.toml").write_text("[exotic]\nscopes = []\n")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(tmp_path))
    monkeypatch.delenv("XDG_RUNTIME_DIR", raising=False)
    result = run("files")
    assert result.exit_code == cli.EXIT_STATUS["token_files"]
    assert "No token files." in result.stdout
    assert f"hubtokens: token_files: {tmp_path}/hubtokens/files.toml, [exotic]: audience" in (
        result.stderr
    )
    assert "XDG_RUNTIME_DIR is not set" in result.stderr


GRANTS = [
    {"id": "a1", "name": "nightly", "scopes": ["fruits:read"], "created_at": 1.8e9,
     "deadline": 1.8e9 + 86400, "state": "active", "reason": ""},
    {"id": "b2", "name": "weekly", "scopes": ["fruits:read", "fruits:write"], "created_at": 1.7e9,
     "deadline": 1.7e9 + 86400, "state": "revoked", "reason": "revoked by its owner"},
]  # fmt: skip


@pytest.fixture
def hub(monkeypatch):
    """The hub's grants API (``/hub/api/grants``), faked."""
    calls = []

    def answer(request: httpx.Request) -> httpx.Response:
        calls.append(request)
        assert request.headers["Authorization"] == f"token {API_TOKEN}"
        if request.method == "GET":
            return httpx.Response(200, json={"grants": GRANTS})
        if request.method == "POST":
            return httpx.Response(200, json={"confirm_url": "https://kc/auth?x", "expires_in": 600})
        if request.url.path.endswith("/grants/nightly"):
            return httpx.Response(200, json=GRANTS[0] | {"state": "revoked", "reason": "r"})
        return httpx.Response(400, json={"error": "invalid_request", "message": "no job grant"})

    http = httpx.Client(transport=httpx.MockTransport(answer))
    client = cli.TokenClient("http://hub/hub/api", API_TOKEN, http_client=http, retry_seconds=0)
    monkeypatch.setattr(cli, "_hub_client", lambda: client)
    return calls


def test_grants_list_is_a_table_and_json_on_request(hub):
    table = run("grants", "list")
    assert table.exit_code == 0, table.output
    lines = table.stdout.splitlines()
    assert lines[0].split() == ["NAME", "SCOPES", "UNTIL", "STATE", "WHY"]
    assert lines[1].startswith("nightly") and "active" in lines[1]
    assert "fruits:read fruits:write" in lines[2] and "revoked by its owner" in lines[2]
    assert json.loads(run("grants", "list", "--json").stdout) == GRANTS
    assert {str(c.url) for c in hub} == {"http://hub/hub/api/grants"}


def test_grants_create_prints_the_address_to_confirm_in_a_browser(hub):
    result = run("grants", "create", "nightly", "fruits:read", "--days", "3")
    assert result.exit_code == 0, result.output
    assert "https://kc/auth?x" in result.stdout and "10 minutes" in result.stdout
    assert json.loads(hub[0].content) == {"name": "nightly", "scopes": ["fruits:read"], "days": 3}


def test_grants_revoke_says_what_it_ended_and_an_unknown_grant_fails(hub):
    result = run("grants", "revoke", "nightly")
    assert result.exit_code == 0 and result.stdout.startswith("nightly: revoked")
    unknown = run("grants", "revoke", "no/such")
    assert unknown.exit_code == cli.EXIT_STATUS["invalid_request"]
    assert str(hub[-1].url).endswith("/grants/no%2Fsuch")  # one path segment, whatever it holds
