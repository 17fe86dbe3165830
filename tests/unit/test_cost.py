"""The cost model against figures worked out by hand from prices.yaml."""

import re

import pytest
import yaml

from costsim.cost import (PRICES_FILE, InstanceShape, JobFootprint, billed_seconds, instance_cost, jobs_cost,
                            load_prices, total_cost)

PRICES = load_prices()
# One L4 instance, 4 vCPU, 16 GiB: 0.0001867 + 4 x 0.000018 + 16 x 0.000002 dollars a second.
PER_SECOND = 0.0002907


def test_one_instance_up_one_hour():
    cost = instance_cost(3600, PRICES)
    assert cost.gpu == pytest.approx(0.67212)
    assert cost.cpu == pytest.approx(0.2592)
    assert cost.memory == pytest.approx(0.1152)
    assert cost.total == pytest.approx(1.04652)


def test_a_cold_start_then_five_jobs_then_idle_until_scale_down():
    # 30 s start-up, five 1 s jobs, 15 idle minutes before Cloud Run stops it: 935 s billed.
    cost = total_cost([30 + 5 * 1 + 900], jobs=5, prices=PRICES)
    assert cost.instances == pytest.approx(935 * PER_SECOND)
    assert cost.per_job == pytest.approx(jobs_cost(5, PRICES).total)
    assert cost.total == pytest.approx(0.2718045 + 5 * jobs_cost(1, PRICES).total)


def test_idle_time_is_billed_until_scale_down():
    busy_only = instance_cost(31, PRICES).total
    with_idle = instance_cost(31 + 900, PRICES).total
    assert with_idle - busy_only == pytest.approx(900 * PER_SECOND)


def test_billing_rounds_up_to_100_ms():
    assert billed_seconds(0.01) == 0.1
    assert billed_seconds(1.0) == 1.0
    assert billed_seconds(1.04) == 1.1
    assert instance_cost(0.01, PRICES).total == pytest.approx(0.1 * PER_SECOND)


def test_a_bigger_instance_costs_its_cpu_and_memory():
    shape = InstanceShape(vcpu=8, memory_gib=32)
    assert instance_cost(3600, PRICES, shape).total == pytest.approx(3600 * (0.0001867 + 8 * 0.000018 + 32 * 0.000002))


def test_per_job_services_by_hand():
    f = JobFootprint()
    one = jobs_cost(1000, PRICES, f)
    # 9 invocations x (0.0000004 + 0.2 s x (1 vCPU x 0.000024 + 0.5 GiB x 0.0000025)) per job
    assert one.functions == pytest.approx(1000 * 9 * (0.0000004 + 0.2 * (0.000024 + 0.5 * 0.0000025)))
    assert one.pubsub == pytest.approx(1000 * 8 * 1000 / 2**40 * 40)
    assert one.firestore == pytest.approx(1000 * (6 * 0.0000009 + 8 * 0.0000003))
    stored = (4.0 * 7 + 3.0 * 30) / 1000 / 30.4  # GB-months per job
    assert one.storage == pytest.approx(1000 * (2 * 0.000005 + 3 * 0.0000004 + stored * 0.020))
    # Next to the GPU the rest is small: well under 20 cents per 1,000 images.
    assert one.total < 0.20
    assert one.instances == 0


def test_pre_warm_ticks_are_invocations():
    assert jobs_cost(0, PRICES, extra_invocations=288).functions == pytest.approx(
        288 * (0.0000004 + 0.2 * (0.000024 + 0.5 * 0.0000025)))


def test_every_price_names_its_source_and_date():
    raw = yaml.safe_load(PRICES_FILE.read_text())
    entries = [entry for group in raw.values() for entry in group.values()]
    assert len(entries) >= 13
    for entry in entries:
        assert entry["source"].startswith("https://")
        assert re.fullmatch(r"20\d\d-(0[1-9]|1[0-2])", str(entry["checked"])), entry  # the month it was read
        assert float(entry["value"]) > 0
