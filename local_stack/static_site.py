"""The store's demo product page, served on the store origin.

Serves web/ and a generated /config.json (function URLs, warm-up hours): the
page holds no secrets, only public endpoints.

python -m local_stack.static_site --port 8000 [--config JSON]
"""

from __future__ import annotations

import argparse
import functools
import json
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

WEB_ROOT = Path(__file__).resolve().parent.parent / "web"


class Site(SimpleHTTPRequestHandler):
    config: dict = {}

    def log_message(self, fmt, *args):
        pass

    def end_headers(self):
        self.send_header("Cache-Control", "no-store")
        super().end_headers()

    def do_GET(self):
        if self.path.split("?", 1)[0] == "/config.json":
            body = json.dumps(self.config).encode()
            self.send_response(200)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)
            return
        super().do_GET()


def serve(port: int, config: dict, root: Path = WEB_ROOT, host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundSite", (Site,), {"config": config, "extensions_map": {
        **Site.extensions_map, ".js": "text/javascript", ".mjs": "text/javascript"}})
    server = ThreadingHTTPServer((host, port), functools.partial(handler, directory=str(root)))
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.static_site")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--config", default="{}", help="JSON handed to the page as /config.json")
    args = parser.parse_args()
    serve(args.port, json.loads(args.config)).serve_forever()


if __name__ == "__main__":
    main()
