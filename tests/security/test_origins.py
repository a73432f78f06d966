"""Origins (review item 4): the hub, Keycloak and each user's server are separate origins
(per-user subdomains, Keycloak on its own host name), so script that runs in a user's server
(a notebook's HTML output, a file served from the server, a JupyterLab extension) cannot use
the hub's session: it cannot read the hub's cookies, nor read the answers of the hub's API or
Keycloak's pages. Before, everything shared one origin, and script in a server a hub admin
opened ran with the admin's hub cookies.

The attack runs in a real browser (Chromium), in the reader's JupyterLab; the control runs the
same script in the hub's own page, where it must succeed.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from playwright.sync_api import Page

from tests.support.jupyterlab import login, wait_for_lab
from tests.support.stack import Stack

#: Runs in the page, as an attacker's script would: the hub's API with the page's cookies and
#: the XSRF token it can read from them (the hub asks for it), Keycloak's account page.
PROBE = """async ([hub, keycloak]) => {
  const xsrf = (document.cookie.match(/(?:^|; )_xsrf=([^;]*)/) || [])[1] || "";
  const read = async (url) => {
    try {
      const answer = await fetch(url, {credentials: "include", headers: {"X-XSRFToken": xsrf}});
      return "read " + answer.status + " " + (await answer.text()).slice(0, 4000);
    } catch (error) {
      return "blocked";
    }
  };
  return {
    origin: location.origin,
    cookies: document.cookie,
    hubApi: await read(hub + "/hub/api/user"),
    keycloak: await read(keycloak + "/realms/demo/account/"),
  };
}"""


def origin(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}"


def test_script_in_a_users_server_cannot_use_the_hubs_session(
    page: Page, compose_stack: Stack
) -> None:
    login(page, compose_stack, "reader")
    wait_for_lab(page, "reader")
    hub, keycloak = compose_stack.public_url, compose_stack.keycloak_url
    assert origin(page.url) == origin(compose_stack.server_url("reader"))
    assert len({origin(hub), origin(keycloak), origin(page.url)}) == 3

    in_server = page.evaluate(PROBE, [hub, keycloak])
    assert in_server["origin"] == origin(compose_stack.server_url("reader"))
    assert in_server["hubApi"] == "blocked", in_server  # no CORS: the answer is not readable
    assert in_server["keycloak"] == "blocked", in_server
    # The hub's XSRF token (the other half of a cookie-authenticated API call) is not visible.
    hub_xsrf = [c["value"] for c in page.context.cookies(f"{hub}/hub/") if c["name"] == "_xsrf"]
    assert hub_xsrf, "the hub set no _xsrf cookie: nothing to prove"
    assert hub_xsrf[0] not in in_server["cookies"], in_server["cookies"]

    page.goto(f"{hub}/hub/home")
    in_hub = page.evaluate(PROBE, [hub, keycloak])  # the control: the hub's own origin
    assert in_hub["hubApi"].startswith("read 200"), in_hub
    assert '"name":"reader"' in in_hub["hubApi"].replace(" ", ""), in_hub
