"""The one place that builds cloud clients and wires them into adapters.

Built lazily and once per process: a function instance pays for its clients on
the first request, not on import, and reuses them afterwards.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property, lru_cache

from adapters.blobs import BlobStore, GcsBlobs
from adapters.cloud_run import CloudRun
from adapters.jobs import FirestoreJobs, JobRepository
from adapters.leases import FirestoreLeases, LeaseStore
from adapters.messages import Publisher, PubSubPublisher
from adapters.notify import Notifier, ServiceCaller
from adapters.ops_store import OpsStore
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
    """What signs URLs, built once: a key file's credentials (locally), else the runtime's
    service account through IAM signBlob, its token refreshed only when expired."""
    if settings.signing_key_file:
        from google.oauth2 import service_account

        return service_account.Credentials.from_service_account_file(settings.signing_key_file)
    import google.auth
    import google.auth.transport.requests
    import requests

    from adapters.signing import IamSigningCredentials

    def runtime_credentials():
        # Application Default Credentials: on Cloud Run, the metadata server's.
        # https://cloud.google.com/docs/authentication/application-default-credentials
        return google.auth.default(scopes=["https://www.googleapis.com/auth/cloud-platform"])[0]

    return IamSigningCredentials(runtime_credentials, google.auth.transport.requests.Request(requests.Session()),
                                 settings.signing_service_account)


def firestore_client(project: str, database: str = "(default)"):
    """One Firestore client per database in a process, whoever asks (adapters(), operations())."""
    import os

    # Keyed by the emulator too: tests start more than one in a process.
    return _firestore_client(project, database, os.environ.get("FIRESTORE_EMULATOR_HOST", ""))


@lru_cache
def _firestore_client(project: str, database: str, emulator_host: str):
    from google.cloud import firestore

    return firestore.Client(project=project, database=database)


@lru_cache
def adapters() -> Adapters:
    import os

    from google.auth.credentials import AnonymousCredentials
    from google.cloud import pubsub_v1, storage

    settings = get_settings()
    project = settings.google_cloud_project
    if os.environ.get("STORAGE_EMULATOR_HOST"):
        storage_client = storage.Client(project=project, credentials=AnonymousCredentials())
    else:
        storage_client = storage.Client(project=project)
    db = firestore_client(project, settings.jobs_database)
    return Adapters(
        settings=settings,
        jobs=FirestoreJobs(db, settings.jobs_collection),
        blobs=GcsBlobs(storage_client, _signing_credentials(settings), settings.signed_url_endpoint),
        publisher=PubSubPublisher(pubsub_v1.PublisherClient(), project),
        leases=FirestoreLeases(db),
        firestore=db,
    )


@lru_cache
def rate_limiter():
    """Counters for the public functions' rate limits, shared by every instance, behind
    the policy for when they cannot be read (one per process: it keeps local buckets)."""
    from adapters.rate_limits import FirestoreRateLimits, OutagePolicy

    a = adapters()
    return OutagePolicy(FirestoreRateLimits(a.firestore, a.settings.rate_limits_collection))


# --- Operations (pre-warm, budget guard, rollback, canary) -------------------

class Operations:
    """The operations functions' adapters, each built on first use (cost_report never
    needs a Cloud Run client, and so never needs its credentials)."""

    def __init__(self, settings: Settings):
        self.settings = settings

    @cached_property
    def cloud_run(self) -> CloudRun:
        from adapters.cloud_run import RunV2CloudRun

        return RunV2CloudRun(_cloud_run_client(self.settings), self.settings.google_cloud_project,
                             self.settings.region)

    @property
    def _jobs_db(self):
        """The jobs database (settings.jobs_database: (default) in production): the same client
        as adapters()', for the jobs repository and the reports."""
        return firestore_client(self.settings.google_cloud_project, self.settings.jobs_database)

    @property
    def _ops_db(self):
        """The operations database (settings.ops_database)."""
        return firestore_client(self.settings.google_cloud_project, self.settings.ops_database)

    @cached_property
    def store(self) -> OpsStore:
        from adapters.ops_store import FirestoreOps

        return FirestoreOps(self._ops_db, known_good_collection=self.settings.known_good_collection)

    @cached_property
    def jobs(self) -> JobRepository:
        """The jobs the operations functions count (pre-warm, cost report), over adapters()' client
        without its storage and Pub/Sub clients, which these functions never use."""
        return FirestoreJobs(self._jobs_db, self.settings.jobs_collection)

    @cached_property
    def report_source(self):
        from adapters.reports import FirestoreReportSource

        return FirestoreReportSource(self._jobs_db, ops_client=self._ops_db,
                                     jobs_collection=self.settings.jobs_collection)

    @cached_property
    def request_counts(self):
        """Cloud Monitoring in production; the local Cloud Run router's counts locally."""
        if self.settings.cloud_run_endpoint:
            from adapters.reports import LocalRouterRequests

            return LocalRouterRequests(self.settings.cloud_run_endpoint)
        from google.cloud import monitoring_v3

        from adapters.reports import CloudMonitoringRequests

        return CloudMonitoringRequests(monitoring_v3.MetricServiceClient(), self.settings.google_cloud_project)

    @cached_property
    def notifier(self) -> Notifier:
        from adapters.notify import SlackWebhook

        return SlackWebhook(self.settings.slack_webhook_url)

    @cached_property
    def caller(self) -> ServiceCaller:
        from adapters.notify import HttpCaller

        return HttpCaller()


def _cloud_run_client(settings: Settings, kind: str = "Services"):
    from google.cloud import run_v2

    return _real_or_local(getattr(run_v2, f"{kind}Client"), settings.cloud_run_endpoint)


def cloud_scheduler_client(endpoint: str = ""):
    """The Cloud Scheduler client `python -m scheduler apply` drives (a local stand-in at `endpoint`)."""
    from google.cloud import scheduler_v1

    return _real_or_local(scheduler_v1.CloudSchedulerClient, endpoint)


def _real_or_local(client_class, endpoint: str):
    """The real client; with `endpoint` (http://host:port) plain REST to a local stand-in, no credentials."""
    if not endpoint:
        return client_class()
    from google.api_core.client_options import ClientOptions
    from google.auth.credentials import AnonymousCredentials

    return client_class(transport="rest", credentials=AnonymousCredentials(),
                        client_options=ClientOptions(api_endpoint=endpoint))


@lru_cache
def operations() -> Operations:
    return Operations(get_settings())


def revision_metrics(settings: Settings):
    """Cloud Monitoring in production; the local Cloud Run router's counts locally."""
    if settings.cloud_run_endpoint:
        from adapters.metrics import LocalRouterMetrics

        return LocalRouterMetrics(settings.cloud_run_endpoint)
    from google.cloud import monitoring_v3

    from adapters.metrics import CloudMonitoringMetrics

    return CloudMonitoringMetrics(monitoring_v3.MetricServiceClient(), settings.google_cloud_project)
