"""The one place that builds cloud clients and wires them into adapters.

Built lazily and once per process: a function instance pays for its clients on
the first request, not on import, and reuses them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache

from adapters.blobs import BlobStore, GcsBlobs
from adapters.jobs import FirestoreJobs, JobRepository
from adapters.leases import FirestoreLeases, LeaseStore
from adapters.messages import PubSubPublisher, Publisher
from settings import Settings, get_settings


@dataclass
class Adapters:
    settings: Settings
    jobs: JobRepository
    blobs: BlobStore
    publisher: Publisher
    leases: LeaseStore
    firestore: object


def _signing_credentials(settings: Settings):
    if not settings.signing_key_file:
        return None
    from google.oauth2 import service_account

    return service_account.Credentials.from_service_account_file(settings.signing_key_file)


@lru_cache
def adapters() -> Adapters:
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, pubsub_v1, storage
    import os

    settings = get_settings()
    project = settings.google_cloud_project
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        storage_client = storage.Client(project=project, credentials=AnonymousCredentials())
    else:
        storage_client = storage.Client(project=project)
    db = firestore.Client(project=project)
    return Adapters(
        settings=settings,
        jobs=FirestoreJobs(db, settings.jobs_collection),
        blobs=GcsBlobs(storage_client, _signing_credentials(settings), settings.signing_service_account),
        publisher=PubSubPublisher(pubsub_v1.PublisherClient(), project),
        leases=FirestoreLeases(db),
        firestore=db,
    )


@lru_cache
def rate_limiter():
    """Counters for the public functions' rate limits, shared by every instance."""
    from adapters.rate_limits import FirestoreRateLimits

    a = adapters()
    return FirestoreRateLimits(a.firestore, a.settings.rate_limits_collection)
