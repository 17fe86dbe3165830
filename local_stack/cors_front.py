"""A front for fake-gcs-server that behaves like Cloud Storage toward a browser.

fake-gcs-server stores a bucket's CORS configuration but answers every
preflight with `*`, and accepts any signature. Browsers reach the local uploads
bucket through this front instead (signed URLs name it), which
- answers preflights and adds CORS headers from the bucket's `cors`
  configuration (origin, method and requested headers must match one entry),
- checks V4 signatures, expiry and x-goog-content-length-range like Cloud
  Storage (anonymous requests, listings included, get 403),
and passes everything else through unchanged.

python -m local_stack.cors_front --port P --upstream http://127.0.0.1:G --cors '{"bucket": [...]}'
                                 [--key-file signing-key.json]
"""

from __future__ import annotations

import argparse
import http.client
import json
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import urlsplit

from local_stack.gcs_signature import SignatureRejected, check_length, public_key_from_service_account_file, verify

HOP_BY_HOP = {"connection", "keep-alive", "proxy-authenticate", "proxy-authorization", "te", "trailers",
              "transfer-encoding", "upgrade", "host", "content-length"}


class BucketCors:
    """Each bucket's CORS entries. fake-gcs-server 1.54 neither keeps nor returns a
    bucket's `cors` (checked: absent from GET after insert or PATCH), so the stack
    hands the front the entries topology.yaml declares, as topology.apply sets them."""

    def __init__(self, rules_by_bucket: dict[str, list[dict]]):
        self._rules = rules_by_bucket

    def rules(self, bucket: str) -> list[dict]:
        return self._rules.get(bucket, [])


def match(rules: list[dict], origin: str, method: str, request_headers: list[str]) -> dict | None:
    """The first entry allowing this origin, method and (for a preflight) headers."""
    for rule in rules:
        origins, methods = rule.get("origin", []), [m.upper() for m in rule.get("method", [])]
        allowed_headers = {h.lower() for h in rule.get("responseHeader", [])}
        if origin not in origins and "*" not in origins:
            continue
        if method.upper() not in methods and "*" not in methods:
            continue
        if any(h not in allowed_headers for h in request_headers):
            continue
        return rule
    return None


class Front(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    upstream: str = ""
    cors: BucketCors
    public_key = None

    def log_message(self, fmt, *args):  # quiet: the stack keeps logs per child
        pass

    # --- helpers ------------------------------------------------------------
    def _bucket(self) -> str:
        return urlsplit(self.path).path.lstrip("/").split("/", 1)[0]

    def _reply(self, status: int, body: bytes = b"", headers: dict | None = None) -> None:
        self.send_response(status)
        for key, value in (headers or {}).items():
            self.send_header(key, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD":
            self.wfile.write(body)

    def _error(self, status: int, code: str, message: str, headers: dict | None = None) -> None:
        body = f"<?xml version='1.0' encoding='UTF-8'?><Error><Code>{code}</Code><Message>{message}</Message></Error>"
        self._reply(status, body.encode(), {"Content-Type": "application/xml; charset=UTF-8", **(headers or {})})

    def _cors_for(self, method: str) -> dict[str, str]:
        origin = self.headers.get("Origin")
        if not origin:
            return {}
        rule = match(self.cors.rules(self._bucket()), origin, method, [])
        if rule is None:
            return {}
        headers = {"Access-Control-Allow-Origin": origin, "Vary": "Origin"}
        if rule.get("responseHeader"):
            headers["Access-Control-Expose-Headers"] = ", ".join(rule["responseHeader"])
        return headers

    def _drain(self, length: int) -> None:
        """Read a refused body so the browser sees our answer, not a reset (bounded)."""
        if length <= 64 * 1024 * 1024:
            self.rfile.read(length)
        else:
            self.close_connection = True

    # --- verbs --------------------------------------------------------------
    def do_OPTIONS(self):
        origin = self.headers.get("Origin", "")
        method = self.headers.get("Access-Control-Request-Method", "")
        requested = [h.strip().lower() for h in self.headers.get("Access-Control-Request-Headers", "").split(",")
                     if h.strip()]
        rule = match(self.cors.rules(self._bucket()), origin, method, requested) if origin and method else None
        if rule is None:
            # No matching entry: no CORS headers at all, so the browser refuses the real request.
            return self._error(403, "AccessDenied", "CORS preflight refused by the bucket's configuration")
        headers = {"Access-Control-Allow-Origin": origin, "Access-Control-Allow-Methods": method.upper(),
                   "Vary": "Origin"}
        if requested:
            headers["Access-Control-Allow-Headers"] = ", ".join(requested)
        if "maxAgeSeconds" in rule:
            headers["Access-Control-Max-Age"] = str(rule["maxAgeSeconds"])
        self._reply(200, b"", headers)

    def _proxy(self):
        cors = self._cors_for(self.command)
        length = int(self.headers.get("Content-Length") or 0)
        if self.headers.get("Transfer-Encoding", "").lower() == "chunked":
            return self._error(411, "MissingContentLength", "send Content-Length", cors)
        if self.public_key is not None:
            url = f"http://{self.headers.get('Host', '')}{self.path}"
            try:
                signed = verify(self.command, url, dict(self.headers.items()), self.public_key)
                if self.command in ("PUT", "POST"):
                    check_length(signed, length)
            except SignatureRejected as exc:
                self._drain(length)
                status = 400 if str(exc).startswith("EntityTooLarge") else 403
                return self._error(status, str(exc).split(":")[0], str(exc), cors)
        body = self.rfile.read(length) if length else None
        parts = urlsplit(self.upstream)
        conn = http.client.HTTPConnection(parts.hostname, parts.port, timeout=120)
        try:
            headers = {k: v for k, v in self.headers.items() if k.lower() not in HOP_BY_HOP and k.lower() != "origin"}
            headers["Host"] = parts.netloc  # fake-gcs-server's -public-host: bucket-in-path (XML API) requests
            conn.request(self.command, self.path, body=body, headers=headers)
            response = conn.getresponse()
            payload = response.read()
            out = {k: v for k, v in response.getheaders()
                   if k.lower() not in HOP_BY_HOP and not k.lower().startswith("access-control-")
                   and k.lower() != "vary"}
        finally:
            conn.close()
        self._reply(response.status, payload, {**out, **cors})

    do_GET = do_PUT = do_POST = do_HEAD = do_DELETE = _proxy


class FrontServer(ThreadingHTTPServer):
    # Shoppers PUT at once (the release gate's burst: validation/checks/burst.py); socketserver's
    # default listen backlog of 5 reset connections of a 16-photo burst. Cloud Storage takes any.
    request_queue_size = 256


def serve(port: int, upstream: str, cors: dict[str, list[dict]], key_file: str = "",
          host: str = "127.0.0.1") -> ThreadingHTTPServer:
    handler = type("BoundFront", (Front,), {
        "upstream": upstream, "cors": BucketCors(cors),
        "public_key": public_key_from_service_account_file(key_file) if key_file else None,
    })
    server = FrontServer((host, port), handler)
    server.daemon_threads = True
    return server


def main() -> None:
    parser = argparse.ArgumentParser(prog="python -m local_stack.cors_front")
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--upstream", required=True)
    parser.add_argument("--cors", default="{}", help='JSON {"bucket": [CORS entries as the JSON API has them]}')
    parser.add_argument("--key-file", default="", help="check V4 signatures against this service-account key")
    args = parser.parse_args()
    serve(args.port, args.upstream, json.loads(args.cors), args.key_file).serve_forever()


if __name__ == "__main__":
    main()
