"""The GCP adapters with the real clients against the emulators."""

import threading
import uuid
from datetime import timedelta

import pytest
import requests

from adapters.blobs import Encoded, GcsBlobs, NotFound, TooLarge
from adapters.jobs import FirestoreJobs
from adapters.leases import FirestoreLeases
from adapters.messages import PubSubPublisher
from domain.jobs import Job

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def clients(stack):
    from google.auth.credentials import AnonymousCredentials
    from google.cloud import firestore, pubsub_v1, storage
    from google.oauth2 import service_account

    with stack.client_env():
        return {
            "db": firestore.Client(project=stack.project),
            "storage": storage.Client(project=stack.project, credentials=AnonymousCredentials()),
            "publisher": pubsub_v1.PublisherClient(),
            "subscriber": pubsub_v1.SubscriberClient(),
            "signer": service_account.Credentials.from_service_account_file(stack.env["SIGNING_KEY_FILE"]),
        }


def test_concurrent_transactions_lose_no_update(clients):
    jobs = FirestoreJobs(clients["db"], f"jobs-{uuid.uuid4().hex[:6]}")
    jobs.create(Job(job_id="j1"))

    def bump(job):
        job.attempts += 1
        return True

    threads = [threading.Thread(target=lambda: [jobs.update("j1", bump) for _ in range(3)]) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    assert jobs.get("j1").attempts == 12
    assert jobs.update("missing", bump) == (None, False)


def test_create_refuses_an_existing_id(clients):
    from google.api_core.exceptions import AlreadyExists

    jobs = FirestoreJobs(clients["db"], f"jobs-{uuid.uuid4().hex[:6]}")
    jobs.create(Job(job_id="same"))
    with pytest.raises(AlreadyExists):
        jobs.create(Job(job_id="same"))


def test_leases_exclude_others_until_released_or_expired(clients):
    leases = FirestoreLeases(clients["db"], f"leases-{uuid.uuid4().hex[:6]}")
    assert leases.acquire("job", "a", 60) == 1
    assert leases.acquire("job", "b", 60) is None
    leases.release("job", "b")  # not the holder: no effect
    assert leases.acquire("job", "b", 60) is None
    leases.release("job", "a")
    assert leases.acquire("job", "b", -1) == 2  # taken, and already expired
    assert leases.acquire("job", "c", 60) == 3


def test_a_renewed_lease_keeps_others_out_and_a_lost_one_cannot_be_renewed(clients):
    leases = FirestoreLeases(clients["db"], f"leases-{uuid.uuid4().hex[:6]}")
    assert leases.acquire("job", "a", 60) == 1
    assert leases.renew("job", "a", 60) and leases.acquire("job", "b", 60) is None
    assert not leases.renew("job", "b", 60)  # only the holder renews
    assert leases.renew("job", "a", -1)  # a's renewals stopped in time: its lease ran out ...
    assert leases.acquire("job", "b", 60) == 2  # ... and a redelivery took the job over
    assert not leases.renew("job", "a", 60)  # a learns it lost the lease
    assert leases.acquire("job", "a", 60) is None and leases.renew("job", "b", 60)
    assert leases.held("job") and not leases.held("another-job")
    leases.release("job", "b")
    assert not leases.held("job")


def test_record_once_writes_one_log_entry_per_key(clients):
    from adapters.ops_store import FirestoreOps

    prefix = f"ops{uuid.uuid4().hex[:6]}_"
    ops = FirestoreOps(clients["db"], prefix=prefix)
    assert ops.record_once("budget:b/1:emergency_entered", "emergency_entered", saved_max_instances=5)
    assert not ops.record_once("budget:b/1:emergency_entered", "emergency_entered", saved_max_instances=2)
    entries = [d.to_dict() for d in clients["db"].collection(prefix + "log").stream()]
    assert [(e["kind"], e["saved_max_instances"]) for e in entries] == [("emergency_entered", 5)]


def test_write_once_keeps_the_first_result(clients, stack):
    blobs = GcsBlobs(clients["storage"])
    bucket, name = stack.env["RESULTS_BUCKET"], f"it/{uuid.uuid4().hex}.png"
    assert blobs.write_once(bucket, name, b"first", "image/png")
    assert not blobs.write_once(bucket, name, b"second", "image/png")
    assert blobs.read(bucket, name) == b"first" and blobs.exists(bucket, name)
    with pytest.raises(NotFound):
        blobs.read(bucket, f"it/{uuid.uuid4().hex}")


def test_read_takes_raw_bytes_and_refuses_encoded_or_oversized_objects_by_metadata(clients, stack):
    import gzip

    blobs = GcsBlobs(clients["storage"])
    bucket = clients["storage"].bucket(stack.env["UPLOADS_BUCKET"])
    photo = b"\xff\xd8\xff" + b"A" * 100_000
    encoded = bucket.blob(f"it/{uuid.uuid4().hex}")
    encoded.content_encoding = "gzip"
    encoded.upload_from_string(gzip.compress(photo), content_type="image/jpeg")
    # What the plain download does: decompressive transcoding, 700x the stored bytes here.
    assert encoded.download_as_bytes() == photo
    with pytest.raises(Encoded):
        blobs.read(bucket.name, encoded.name, str(encoded.generation), max_bytes=1 << 20)
    plain = bucket.blob(f"it/{uuid.uuid4().hex}")
    plain.upload_from_string(photo, content_type="image/jpeg")
    with pytest.raises(TooLarge):
        blobs.read(bucket.name, plain.name, str(plain.generation), max_bytes=50_000)
    assert blobs.read(bucket.name, plain.name, str(plain.generation), max_bytes=len(photo)) == photo
    with pytest.raises(NotFound):  # another generation
        blobs.read(bucket.name, plain.name, str(plain.generation + 1), max_bytes=len(photo))


def test_signed_urls_upload_and_download_through_the_emulator(clients, stack):
    blobs = GcsBlobs(clients["storage"], clients["signer"])
    bucket, name = stack.env["UPLOADS_BUCKET"], f"it/{uuid.uuid4().hex}"
    url, headers = blobs.signed_put_url(bucket, name, "image/png", 1000, timedelta(minutes=15))
    assert "X-Goog-Signature=" in url and "x-goog-content-length-range" in url.lower()
    requests.put(url, data=b"\x89PNG fake", headers=headers, timeout=10).raise_for_status()
    get_url = blobs.signed_get_url(bucket, name, timedelta(minutes=5))
    assert requests.get(get_url, timeout=10).content == b"\x89PNG fake"


def test_publisher_delivers_with_attributes(clients, stack):
    publisher, subscriber = clients["publisher"], clients["subscriber"]
    topic = f"it-{uuid.uuid4().hex[:8]}"
    publisher.create_topic(name=publisher.topic_path(stack.project, topic))
    sub = subscriber.subscription_path(stack.project, topic + "-pull")
    subscriber.create_subscription(request={"name": sub, "topic": publisher.topic_path(stack.project, topic)})
    PubSubPublisher(publisher, stack.project).publish(topic, b'{"x": 1}', job_id="j")
    received = subscriber.pull(request={"subscription": sub, "max_messages": 1}, timeout=10).received_messages
    assert received[0].message.data == b'{"x": 1}' and received[0].message.attributes["job_id"] == "j"


def test_ops_store_lists_warm_ups_of_a_period(clients):
    from datetime import datetime, timezone

    from adapters.ops_store import FirestoreOps

    store = FirestoreOps(clients["db"], prefix=f"ops_{uuid.uuid4().hex[:8]}_")
    t0 = datetime(2026, 11, 3, 14, 0, tzinfo=timezone.utc)
    for minutes in (30, 0, 59, 60, -1):
        store.record_warmup(t0 + timedelta(minutes=minutes))
    hour = (t0, t0 + timedelta(hours=1))
    assert store.warmups_between(*hour) == [t0 + timedelta(minutes=m) for m in (0, 30, 59)]
    assert store.warmups_since(t0) == 4  # the same records the policy counts


def test_the_jobs_queries_answer_from_the_stored_jobs(clients):
    """The four questions the operations functions ask of all jobs, each with a job just
    outside its filter: a dropped or loosened filter changes an answer."""
    from datetime import datetime, timezone

    from domain.jobs import State

    jobs = FirestoreJobs(clients["db"], f"jobs-{uuid.uuid4().hex[:8]}")
    t0 = datetime(2026, 11, 3, 14, 0, tzinfo=timezone.utc)
    assert (jobs.last_job_finished_at(), jobs.jobs_done_since(t0), jobs.cache_hits_since(t0),
            jobs.uploads_between(t0, t0 + timedelta(hours=1))) == (None, 0, (0, 0.0), [])

    def seed(job_id, queued=None, done=None, saved=None):
        """A job created awaiting its upload, moved on as the pipeline moves it (update)."""
        jobs.create(Job(job_id, timestamps={"awaiting_upload": t0 - timedelta(hours=2)}))
        if queued:
            assert jobs.update(job_id, lambda job: job.move(State.QUEUED, queued))[1]
        if done:
            hit = {} if saved is None else {"cache_hit": True, "gpu_seconds_saved": saved}
            assert jobs.update(job_id, lambda job: job.move(State.DONE, done, **hit))[1]

    minutes = lambda m: t0 + timedelta(minutes=m)  # noqa: E731
    seed("never-uploaded")
    seed("queued-before", queued=minutes(-1))  # just before the hour
    seed("queued-5", queued=minutes(5))
    seed("queued-20", queued=minutes(20))
    seed("queued-at-end", queued=minutes(60))  # the hour is [start, end)
    seed("hit-before", queued=minutes(-20), done=minutes(-1), saved=9.0)  # done just before `since`
    seed("miss", queued=minutes(-20), done=minutes(10))  # done on the GPU path: not a hit
    seed("hit", queued=minutes(-20), done=minutes(30), saved=1.25)
    seed("hit-last", queued=minutes(-20), done=minutes(50), saved=0.5)

    assert jobs.uploads_between(t0, minutes(60)) == [minutes(5), minutes(20)]
    assert jobs.last_job_finished_at() == minutes(50)
    assert jobs.jobs_done_since(t0) == 3
    assert jobs.cache_hits_since(t0) == (2, 1.75)
    assert jobs.cache_hits_since(minutes(40)) == (1, 0.5)
