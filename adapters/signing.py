"""Signing V4 URLs without a key file: the runtime's service account signs through IAM.

Built once per process (bootstrap.py). The access token that authorises signBlob is
fetched once and refreshed only when google-auth counts it expired (3 min 45 s before
its end); one HTTP session carries the token fetches and every signBlob call, so a
signed URL costs one signBlob request on a kept-alive connection.
signBlob: https://cloud.google.com/iam/docs/reference/credentials/rest/v1/projects.serviceAccounts/signBlob
Signing URLs with it: https://cloud.google.com/storage/docs/access-control/signing-urls-with-helpers
"""

from __future__ import annotations

import threading

from google.auth import credentials as auth_credentials


class IamSigningCredentials(auth_credentials.Signing):
    """What google-cloud-storage's generate_signed_url takes as `credentials`: an email
    and sign_bytes(), the bytes signed by IAM signBlob as `service_account_email`."""

    def __init__(self, load_credentials, request, service_account_email: str = ""):
        # The runtime's own credentials, looked up on first use (a function that never signs never asks).
        self._load = load_credentials
        self._credentials = None
        self._request = request
        self._email = service_account_email
        self._signer = None
        self._lock = threading.RLock()

    def _ensure_valid(self) -> None:
        # One refresh however many threads find the token expired at once.
        with self._lock:
            if self._credentials is None:
                self._credentials = self._load()
            if not self._credentials.valid:
                self._credentials.refresh(self._request)

    @property
    def signer_email(self) -> str:
        if not self._email:
            self._ensure_valid()  # the metadata server names the account on the first refresh
            self._email = self._credentials.service_account_email
        return self._email

    @property
    def signer(self):
        with self._lock:
            if self._signer is None:
                from google.auth import iam

                email = self.signer_email
                self._ensure_valid()  # credentials loaded even when the email was configured (RLock)
                # Learn the universe domain (part of signBlob's address) once, not per thread.
                self._credentials.universe_domain  # noqa: B018
                self._signer = iam.Signer(self._request, self._credentials, email)
            return self._signer

    def sign_bytes(self, message: bytes) -> bytes:
        self._ensure_valid()
        return self.signer.sign(message)

