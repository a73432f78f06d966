"""Run the fruit API with uvicorn: ``python -m fruit_api`` (or the ``fruit-api`` script)."""

from __future__ import annotations

import uvicorn

from fruit_api.app import create_app
from fruit_api.settings import Settings

#: Seconds an idle keep-alive connection stays open: above Traefik's 90 s (see main).
KEEP_ALIVE_SECONDS = 120


def main() -> None:
    """Serve on FRUIT_API_HOST:FRUIT_API_PORT; trust X-Forwarded-* from FORWARDED_ALLOW_IPS."""
    settings = Settings.from_env()
    # Uvicorn's access log shows method, path and status only: never headers, so never tokens.
    uvicorn.run(
        create_app(settings),
        host=settings.host,
        port=settings.port,
        root_path=settings.root_path,  # the proxy prefix, so /docs works behind Traefik
        proxy_headers=True,
        # Longer than the proxy keeps an idle upstream connection (Traefik's serversTransport
        # idleConnTimeout, 90 s by default): with uvicorn's 5 s, Traefik could send a request
        # on a connection uvicorn was closing, and a POST (not retried) got a 502.
        timeout_keep_alive=KEEP_ALIVE_SECONDS,
    )


if __name__ == "__main__":
    main()
