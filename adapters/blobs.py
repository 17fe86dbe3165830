"""Object storage: an abstract store and its Cloud Storage adapter."""

from __future__ import annotations

import abc
from datetime import timedelta


class BlobError(Exception):
    """A read refused for the object itself, not for the service: retrying cannot change it.
    `reason` is the failure code a job records when the object was its upload (job records,
    the KPI report and the e2e tests read these strings: keep them as they are)."""

    reason: str


class NotFound(BlobError):
    """The object (or that generation of it) does not exist."""

    reason = "upload_missing"


class Encoded(BlobError):
    """The object is stored with a Content-Encoding: its bytes are not the image itself."""

    reason = "content_encoded"

    def __init__(self, encoding: str):
        super().__init__(f"stored with Content-Encoding: {encoding}")
        self.encoding = encoding


class TooLarge(BlobError):
    """The object is bigger than the reader's limit (by its metadata, before any byte is read)."""

    reason = "too_large"

    def __init__(self, size: int, limit: int):
        super().__init__(f"{size} bytes is over the {limit}-byte limit")
        self.size = size


class BlobStore(abc.ABC):
    @abc.abstractmethod
    def read(self, bucket: str, name: str, generation: str | None = None, max_bytes: int | None = None) -> bytes:
        """The stored bytes as they are; Encoded or TooLarge before anything is downloaded."""

    @abc.abstractmethod
    def write_once(self, bucket: str, name: str, data: bytes, content_type: str) -> bool:
        """Write only if no object has that name; False if one already does."""

    @abc.abstractmethod
    def exists(self, bucket: str, name: str) -> bool: ...

    @abc.abstractmethod
    def signed_put_url(self, bucket: str, name: str, content_type: str, max_bytes: int,
                       ttl: timedelta) -> tuple[str, dict]:
        """A URL and the headers the uploader must send with its PUT."""

    @abc.abstractmethod
    def signed_get_url(self, bucket: str, name: str, ttl: timedelta) -> str: ...


class GcsBlobs(BlobStore):
    def __init__(self, client, signing_credentials=None, url_endpoint: str = ""):
        self._client = client
        self._signer = signing_credentials  # google.auth.credentials.Signing, built once in bootstrap.py
        # Where signed URLs point when not at the client's own endpoint (the local stack's CORS front).
        self._url_endpoint = url_endpoint or None

    def read(self, bucket: str, name: str, generation: str | None = None, max_bytes: int | None = None) -> bytes:
        from google.api_core import exceptions

        where = f"gs://{bucket}/{name}#{generation}"
        try:
            # Metadata first: an object stored with Content-Encoding: gzip would be decompressed
            # on download ("decompressive transcoding"), so its size on disk bounds nothing:
            # https://cloud.google.com/storage/docs/transcoding
            blob = self._client.bucket(bucket).get_blob(name, generation=int(generation) if generation else None)
            if blob is None:
                raise NotFound(where)
            if (blob.content_encoding or "identity").lower() != "identity":
                raise Encoded(blob.content_encoding)
            size = blob.size or 0
            if max_bytes is not None and size > max_bytes:
                raise TooLarge(size, max_bytes)
            if size == 0:
                return b""
            # raw_download: the stored bytes, never decompressed by the client either; the range
            # and the generation pin the read to what the metadata said.
            return blob.download_as_bytes(raw_download=True, start=0, end=size - 1,
                                          if_generation_match=blob.generation)
        except (exceptions.NotFound, exceptions.PreconditionFailed) as exc:
            raise NotFound(where) from exc

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
        # A key file's credentials sign locally; without one (production) bootstrap gives
        # IamSigningCredentials, which sign through IAM with a token refreshed only on expiry.
        kwargs["api_access_endpoint"] = self._url_endpoint
        return blob.generate_signed_url(version="v4", credentials=self._signer, **kwargs)

    def signed_put_url(self, bucket, name, content_type, max_bytes, ttl):
        headers = {"Content-Type": content_type, "x-goog-content-length-range": f"0,{max_bytes}"}
        blob = self._client.bucket(bucket).blob(name)
        url = self._sign(blob, expiration=ttl, method="PUT", content_type=content_type,
                         headers={"x-goog-content-length-range": headers["x-goog-content-length-range"]})
        return url, headers

    def signed_get_url(self, bucket, name, ttl):
        return self._sign(self._client.bucket(bucket).blob(name), expiration=ttl, method="GET")
