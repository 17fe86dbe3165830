"""What a Cloud Run instance's own identity talks to, faked at the HTTP layer.

- the metadata server (plain HTTP, found through GCE_METADATA_HOST / GCE_METADATA_IP):
  the ping, the project id, the service account's email, its access token and ID tokens;
- the IAM Credentials API's signBlob at https://iamcredentials.googleapis.com, which
  google-auth and google-cloud-storage call by that fixed address: reached here as an
  HTTPS proxy (CONNECT) that answers with a certificate from a throwaway CA the client
  trusts through REQUESTS_CA_BUNDLE.

So the production signing and ID-token code runs unchanged, client libraries and all,
and every request it makes is counted. signBlob signs with a real RSA key and refuses
a token it did not issue or that has expired, as IAM would. Tests and benchmarks only.

    with IdentityFake(token_lifetime_s=3600) as fake:
        env = fake.env()   # for the process under test
        ...
        fake.counts["token"], fake.counts["signBlob"]
"""

from __future__ import annotations

import base64
import collections
import datetime
import json
import socket
import ssl
import tempfile
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.x509.oid import NameOID

IAM_HOST = "iamcredentials.googleapis.com"
SERVICE_HOST = "service.a.run.app"  # a private Cloud Run service: echoes the Authorization it was sent
METADATA = "/computeMetadata/v1"


def _certificate(subject: str, key, issuer_key=None, issuer=None, ca: bool = False,
                 names: tuple[str, ...] = ()) -> x509.Certificate:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, subject)])
    now = datetime.datetime.now(datetime.UTC)
    builder = (x509.CertificateBuilder().subject_name(name).issuer_name(issuer or name)
               .public_key(key.public_key()).serial_number(x509.random_serial_number())
               .not_valid_before(now - datetime.timedelta(minutes=5)).not_valid_after(now + datetime.timedelta(days=1))
               .add_extension(x509.BasicConstraints(ca=ca, path_length=None), critical=True))
    if not ca:
        builder = builder.add_extension(x509.SubjectAlternativeName([x509.DNSName(n) for n in names]), critical=False)
    return builder.sign(issuer_key or key, hashes.SHA256())


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


class IdentityFake:
    def __init__(self, *, email: str = "fn-public@demo-proj.iam.gserviceaccount.com", project: str = "demo-proj",
                 token_lifetime_s: int = 3600, signing_key=None):
        self.email, self.project, self.token_lifetime_s = email, project, token_lifetime_s
        self.signing_key = signing_key or rsa.generate_private_key(public_exponent=65537, key_size=2048)
        self.counts: collections.Counter = collections.Counter()
        self._tokens: dict[str, float] = {}  # access token -> when it expires
        self._lock = threading.Lock()
        self._dir = Path(tempfile.mkdtemp(prefix="identity-fake-"))
        ca_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        ca = _certificate("identity-fake CA", ca_key, ca=True)
        leaf_key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
        leaf = _certificate(IAM_HOST, leaf_key, issuer_key=ca_key, issuer=ca.subject, names=(IAM_HOST, SERVICE_HOST))
        self.ca_file = self._dir / "ca.pem"
        self.ca_file.write_bytes(ca.public_bytes(serialization.Encoding.PEM))
        (self._dir / "leaf.pem").write_bytes(leaf.public_bytes(serialization.Encoding.PEM) + leaf_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
        self.tls = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
        self.tls.load_cert_chain(self._dir / "leaf.pem")
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), _handler(self))
        self._server.daemon_threads = True
        self.port = self._server.server_address[1]

    # --- what the process under test is given ------------------------------
    def env(self) -> dict[str, str]:
        host = f"127.0.0.1:{self.port}"
        return {"GCE_METADATA_HOST": host, "GCE_METADATA_IP": host,
                "HTTPS_PROXY": f"http://{host}", "NO_PROXY": "127.0.0.1,localhost", "no_proxy": "127.0.0.1,localhost",
                "REQUESTS_CA_BUNDLE": str(self.ca_file),
                # Nothing else may answer for the identity: no key file, no gcloud credentials.
                "GOOGLE_APPLICATION_CREDENTIALS": "", "SIGNING_KEY_FILE": "",
                "CLOUDSDK_CONFIG": str(self._dir / "no-gcloud")}

    def __enter__(self):
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc) -> None:
        self._server.shutdown()
        self._server.server_close()

    # --- answers -------------------------------------------------------------
    def issue_token(self) -> dict:
        with self._lock:
            self.counts["token"] += 1
            token = f"ya29.fake-{self.counts['token']}"
            self._tokens[token] = time.time() + self.token_lifetime_s
        return {"access_token": token, "expires_in": self.token_lifetime_s, "token_type": "Bearer"}

    def token_valid(self, authorization: str) -> bool:
        token = authorization.removeprefix("Bearer ")
        return self._tokens.get(token, 0.0) > time.time()

    def id_token(self, audience: str) -> str:
        with self._lock:
            self.counts["identity"] += 1
        now = int(time.time())
        claims = {"iss": "https://accounts.google.com", "aud": audience, "sub": "1", "email": self.email,
                  "iat": now, "exp": now + self.token_lifetime_s}
        return ".".join(_b64url(json.dumps(part).encode()) for part in ({"alg": "RS256", "typ": "JWT"}, claims)) \
            + "." + _b64url(b"unsigned")

    def sign_blob(self, payload_b64: str) -> dict:
        with self._lock:
            self.counts["signBlob"] += 1
        signature = self.signing_key.sign(base64.b64decode(payload_b64), padding.PKCS1v15(), hashes.SHA256())
        return {"keyId": "fake", "signedBlob": base64.b64encode(signature).decode()}


def _handler(fake: IdentityFake):
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"
        disable_nagle_algorithm = True  # a reply in two writes must not wait for a delayed ACK

        def log_message(self, *args):  # quiet
            pass

        def _reply(self, status: int, body, content_type: str = "application/json") -> None:
            data = body if isinstance(body, bytes) else (body if isinstance(body, str) else json.dumps(body)).encode()
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Metadata-Flavor", "Google")
            self.send_header("Content-Length", str(len(data)))
            self._headers_buffer.append(b"\r\n" + data)  # headers and body in one write
            self.flush_headers()

        def do_CONNECT(self):
            if self.path not in (f"{IAM_HOST}:443", f"{SERVICE_HOST}:443"):
                self._reply(403, {"error": f"the fake proxies only {IAM_HOST} and {SERVICE_HOST}"})
                return
            fake.counts["connect"] += 1
            self.send_response(200, "Connection established")
            self.end_headers()
            # The tunnel ends here: TLS as iamcredentials.googleapis.com, then plain HTTP/1.1 requests.
            self.connection = fake.tls.wrap_socket(self.connection, server_side=True)
            self.rfile = self.connection.makefile("rb")
            self.wfile = self.connection.makefile("wb", buffering=0)
            self.close_connection = False
            while not self.close_connection:
                # Acknowledge at once: a client that writes a request's headers and body apart
                # (urllib3 does) would otherwise wait out a delayed ACK on every request.
                self.connection.setsockopt(socket.IPPROTO_TCP, socket.TCP_QUICKACK, 1)
                self.handle_one_request()

        def do_GET(self):
            url = urlsplit(self.path)
            path, query = url.path, parse_qs(url.query)
            if self.headers.get("Host") == SERVICE_HOST:
                fake.counts["service"] += 1
                self._reply(200, {"authorization": self.headers.get("Authorization", "")})
                return
            if self.headers.get("Metadata-Flavor") != "Google":
                self._reply(403, {"error": "Missing Metadata-Flavor: Google"})
                return
            fake.counts["metadata"] += 1
            accounts = f"{METADATA}/instance/service-accounts/"
            if path in ("/", f"{METADATA}/", ""):
                self._reply(200, "ok", "text/plain")
            elif path == f"{METADATA}/project/project-id":
                self._reply(200, fake.project, "text/plain")
            elif path == f"{METADATA}/universe/universe-domain":
                self._reply(200, "googleapis.com", "text/plain")
            elif path.startswith(accounts) and path.endswith("/token"):
                self._reply(200, fake.issue_token())
            elif path.startswith(accounts) and path.endswith("/identity"):
                self._reply(200, fake.id_token(query.get("audience", [""])[0]), "text/plain")
            elif path.startswith(accounts) and path.rstrip("/").count("/") == accounts.count("/"):
                self._reply(200, {"email": fake.email, "aliases": ["default"],
                                  "scopes": ["https://www.googleapis.com/auth/cloud-platform"]})
            else:
                self._reply(404, {"error": f"no fake for {path}"})

        def do_POST(self):
            body = json.loads(self.rfile.read(int(self.headers.get("Content-Length") or 0)) or b"{}")
            if not self.path.startswith(f"/v1/projects/-/serviceAccounts/{fake.email}:signBlob"):
                self._reply(404, {"error": {"code": 404, "message": f"no fake for {self.path}"}})
            elif not fake.token_valid(self.headers.get("Authorization", "")):
                fake.counts["refused"] += 1
                self._reply(401, {"error": {"code": 401, "status": "UNAUTHENTICATED"}})
            else:
                self._reply(200, fake.sign_blob(body["payload"]))

    return Handler
