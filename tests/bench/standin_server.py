"""A stand-in for a notebook server, for the load benchmark only (``HUB_SPAWNER=standin``).

The hub starts it as it starts a real single-user server (SimpleLocalProcessSpawner, native
runtime, with the same environment: ``$JUPYTERHUB_API_TOKEN``, ``$JUPYTERHUB_SERVICE_URL``),
and it only answers the hub's "is it up?" requests: 200 to every GET at its URL. It costs a
few MB where a real Jupyter server costs about a hundred, so that 200 of them fit on one
machine; the benchmark then calls the broker with each one's token from its address, as code
in the server would. It serves no files, runs no code and never shows its environment.

Standard library only: the hub runs it with its own Python (``sys.executable``).
"""

from __future__ import annotations

import os
from http.server import BaseHTTPRequestHandler, HTTPServer
from urllib.parse import urlsplit

BODY = b'{"standin": true}\n'


class Standin(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 (http.server's name)
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(BODY)))
        self.end_headers()
        self.wfile.write(BODY)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 (its signature)
        """Quiet: the hub's health checks are not news."""


def main() -> None:
    url = urlsplit(os.environ["JUPYTERHUB_SERVICE_URL"])
    HTTPServer((url.hostname or "127.0.0.1", url.port or 80), Standin).serve_forever()


if __name__ == "__main__":
    main()
