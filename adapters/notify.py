"""Outbound HTTP of the operations functions: announcements and calls to our own service.

Announcements go to a Slack-compatible incoming webhook (`{"text": ...}`); one
that cannot be delivered is logged, never allowed to undo the action it reports.
"""

from __future__ import annotations

import abc
import logging
import threading

from adapters.logs import log

logger = logging.getLogger(__name__)


class Notifier(abc.ABC):
    @abc.abstractmethod
    def announce(self, text: str) -> bool:
        """Post `text`; False when it could not be delivered (already logged)."""


class SlackWebhook(Notifier):
    def __init__(self, url: str, session=None, timeout: float = 10.0):
        import requests

        self._url = url
        self._session = session or requests.Session()
        self._timeout = timeout

    def announce(self, text: str) -> bool:
        log(logger, logging.INFO, "announce", text=text)
        if not self._url:
            return False
        try:
            response = self._session.post(self._url, json={"text": text}, timeout=self._timeout)
            response.raise_for_status()
        except Exception as exc:  # noqa: BLE001 - any failure to announce is only logged
            # The kind and the status only: requests writes the whole webhook URL, whose path is the
            # secret, into its exceptions' text (adapters/logs.py scrubs it as well).
            status = getattr(getattr(exc, "response", None), "status_code", None)
            log(logger, logging.ERROR, "announcement not delivered", error=type(exc).__name__, status=status)
            return False
        return True


class ServiceCaller(abc.ABC):
    @abc.abstractmethod
    def call(self, method: str, url: str, *, data: bytes | None = None, headers: dict | None = None,
             timeout: float = 60.0) -> tuple[int, bytes]:
        """(status, body); raises on a connection failure."""


class HttpCaller(ServiceCaller):
    """Calls a Cloud Run URL; https ones (production, private services) carry an ID token.

    One ID-token credential per audience, refreshed only when it has expired (google-auth
    reads the expiry from the token): not a metadata-server round trip per call.
    https://cloud.google.com/run/docs/authenticating/service-to-service
    """

    def __init__(self, session=None):
        import requests

        self._session = session or requests.Session()
        self._id_tokens: dict[str, object] = {}  # audience -> ID-token credentials
        self._lock = threading.Lock()

    def _id_token(self, audience: str) -> str:
        import google.auth.transport.requests
        from google.oauth2 import id_token

        request = google.auth.transport.requests.Request(self._session)
        with self._lock:
            credentials = self._id_tokens.get(audience)
            if credentials is None:
                credentials = self._id_tokens[audience] = id_token.fetch_id_token_credentials(audience, request)
            if not credentials.valid:
                credentials.refresh(request)
            return credentials.token

    def call(self, method, url, *, data=None, headers=None, timeout=60.0):
        headers = dict(headers or {})
        if url.startswith("https://"):
            headers["Authorization"] = f"Bearer {self._id_token('/'.join(url.split('/', 3)[:3]))}"
        response = self._session.request(method, url, data=data, headers=headers, timeout=timeout)
        return response.status_code, response.content
