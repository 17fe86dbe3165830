"""u2netp serving several images at once: one per single-threaded session, in parallel,
each mask the image's own and in the batch's order, through the batcher as the service runs it."""

from concurrent.futures import ThreadPoolExecutor

import numpy as np
import pytest

from gpu_service.batcher import Batcher
from gpu_service.engines import new_engine
from tests.imaging.test_engines import photo
from tests.samples import MODELS, needs_model

pytestmark = needs_model


@pytest.fixture(scope="module", params=["u2netp", "u2netp-int8"])
def engine(request):
    return new_engine(request.param, model_dir=MODELS, sessions=2)


@pytest.fixture(scope="module")
def images():
    return [photo(), photo(200, 320, seed=1), photo(300, 180, seed=2), photo(240, 240, seed=3),
            photo(320, 160, seed=4)]


@pytest.fixture(scope="module")
def alone(engine, images):
    return [engine.predict([image])[0] for image in images]


def test_a_batch_spread_over_sessions_keeps_each_image_its_own_mask(engine, images, alone):
    # 5 images on 2 sessions: each session runs two in turn, the odd fifth runs on every core.
    batched = engine.predict(images)
    # Five sizes: a mask in another image's place would have another shape.
    assert [m.shape for m in batched] == [(i.height, i.width) for i in images]
    for mask, own in zip(batched, alone, strict=True):
        # One thread or two sum in another order: a rounding apart, never another image's mask.
        assert np.abs(mask - own).max() < 1e-3


def test_concurrent_requests_through_the_batcher_get_their_own_masks(engine, images, alone):
    sizes = []
    batcher = Batcher(engine.forward, max_batch=8, max_wait=0.05,
                      on_batch=lambda stats: sizes.append(stats.size))
    try:
        def request(i):
            image = images[i % len(images)]
            return i % len(images), engine.finish(batcher(engine.prepare(image), 120), image.size)

        with ThreadPoolExecutor(8) as pool:
            results = list(pool.map(request, range(8)))
    finally:
        batcher.close()
    assert max(sizes) > 1  # some forward passes did serve several requests at once
    for k, mask in results:
        assert np.abs(mask - alone[k]).max() < 1e-3
