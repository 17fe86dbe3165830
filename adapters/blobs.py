"""Object storage: an abstract store and its Cloud Storage adapter."""

from __future__ import annotations

import abc
from datetime import timedelta


class NotFound(Exception):
    """The object (or that generation of it) does not exist."""


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def read(self, bucket: str, name: str, generation: str | None = None) -> bytes: ...

    @abc.abstractmethod
    def write_once(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        """Write only if no object has that name; False if one already does."""

    @abc.abstractmethod
    def exists(self, bucket: str, name: str) -> bool: ...

    @abc.abstractmethod
    def signed_put_url(self, bucket: str, name: str, content_type: str, max_bytes: int, ttl: timedelta) -> tuple[str, dict]:
        """A URL and the headers the uploader must send with its PUT."""

    @abc.abstractmethod
    def signed_get_url(self, bucket: str, name: str, ttl: timedelta) -> str: ...


class GcsBlobs(BlobStore):
    def __init__(self, client, signing_credentials=None, signing_service_account: str = ""):
        self._client = client
        self._signer = signing_credentials
        self._signing_account = signing_service_account

    def read(self, bucket: str, name: str, generation: str | None = None) -> bytes:
        from google.api_core import exceptions

        blob = self._client.bucket(bucket).blob(name, generation=int(generation) if generation else None)
        try:
            return blob.download_as_bytes()
        except exceptions.NotFound as exc:
            raise NotFound(f"gs://{bucket}/{name}#{generation}") from exc

    def write_once(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        from google.api_core import exceptions

        blob = self._client.bucket(bucket).blob(name)
        try:
            blob.upload_from_string(data, content_type=content_type, if_generation_match=0)
        except exceptions.PreconditionFailed:
            return False
        return True

    def exists(self, bucket: str, name: str) -> bool:
        return self._client.bucket(bucket).blob(name).exists()

    def _sign(self, blob, **kwargs) -> str:
        if self._signer is not None:
            return blob.generate_signed_url(version="v4", credentials=self._signer, **kwargs)
        # No key: the runtime's service account signs through the IAM API.
        import google.auth
        import google.auth.transport.requests

        credentials, _ = google.auth.default()
        credentials.refresh(google.auth.transport.requests.Request())
        return blob.generate_signed_url(
            version="v4",
            service_account_email=self._signing_account or credentials.service_account_email,
            access_token=credentials.token,
            **kwargs,
        )

    def signed_put_url(self, bucket, name, content_type, max_bytes, ttl):
        headers = {"Content-Type": content_type, "x-goog-content-length-range": f"0,{max_bytes}"}
        blob = self._client.bucket(bucket).blob(name)
        url = self._sign(blob, expiration=ttl, method="PUT", content_type=content_type,
                         headers={"x-goog-content-length-range": headers["x-goog-content-length-range"]})
        return url, headers

    def signed_get_url(self, bucket, name, ttl):
        return self._sign(self._client.bucket(bucket).blob(name), expiration=ttl, method="GET")
