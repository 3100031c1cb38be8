"""The forecast behind ``wb.autoscale`` and the arrival traces it is measured on."""

from __future__ import annotations

import numpy as np
import pytest

from workbench.placement.scaling import Forecaster, least_worker_seconds, workers_for
from workbench.workloads.trace import Trace


def test_a_seasonal_rate_is_predicted_one_season_on_from_two_seen() -> None:
    season = 20
    t = np.arange(3 * season)
    rate = 10 + 8 * np.sin(2 * np.pi * t / season)
    f = Forecaster(season_steps=season)
    for r in rate[:2 * season + 5]:
        f.add(r)
    got = f.predict(5)
    assert f.model == "holt-winters"
    np.testing.assert_allclose(got, rate[2 * season + 5:2 * season + 10], atol=1.0)


def test_without_two_seasons_it_follows_the_trend_and_never_goes_negative() -> None:
    f = Forecaster(season_steps=50)
    for r in range(1, 13):
        f.add(r)
    up = f.predict(3)
    assert f.model == "holt" and up[0] > 11 and (np.diff(up) >= 0).all()
    g = Forecaster()
    for r in [40, 30, 20, 10, 5, 2, 1, 0.5, 0.2]:
        g.add(r)
    assert (g.predict(10) >= 0).all()
    h = Forecaster()
    h.add(3.0)
    assert h.model == "none" and list(h.predict(2)) == [3.0, 3.0] and h.model == "last"


def test_workers_for_counts_calls_in_service_over_threads() -> None:
    assert workers_for(0.0, 0.05, 2) == 1                     # never below one
    assert workers_for(32.0, 0.05, 2, utilization=0.8) == 1   # 1.6 busy of 1.6 threads
    assert workers_for(33.0, 0.05, 2, utilization=0.8) == 2
    assert workers_for(100.0, 0.1, 2, utilization=0.5) == 10


def test_periodic_trace_has_its_shape_bursts_and_seeded_arrivals() -> None:
    flat = Trace.periodic(period_s=30, periods=3, base=5, peak=25, bursts=0)
    assert flat.duration == 90 and flat.period_s == 30
    assert flat.rate[0] == 5 and flat.rate[15] == pytest.approx(25)
    bursty = Trace.periodic(period_s=30, periods=3, base=5, peak=25, bursts=2, burst_s=3,
                            seed=4)
    extra = bursty.rate - flat.rate
    assert set(np.round(extra, 6)) == {0.0, 12.5} and (extra > 0).sum() in range(3, 7)
    a = flat.arrivals(seed=1)
    assert np.array_equal(a, flat.arrivals(seed=1))
    assert abs(len(a) - flat.rate.sum()) < 4 * np.sqrt(flat.rate.sum())


def test_a_trace_from_csv_and_its_errors(tmp_path) -> None:
    good = tmp_path / "t.csv"
    good.write_text("time,rate\n0,1\n2,3\n4,5\n")
    t = Trace.from_csv(str(good))
    assert t.bin_s == 2 and list(t.rate) == [1, 3, 5]
    bad = tmp_path / "b.csv"
    bad.write_text("t,calls\n0,1\n")
    with pytest.raises(ValueError, match="expected columns time, rate; missing rate, time"):
        Trace.from_csv(str(bad))
    uneven = tmp_path / "u.csv"
    uneven.write_text("time,rate\n0,1\n1,1\n3,1\n")
    with pytest.raises(ValueError, match="evenly spaced"):
        Trace.from_csv(str(uneven))


def test_least_worker_seconds_is_the_fewest_workers_that_keep_up_in_each_bin() -> None:
    # 2 threads of 100 ms calls: 20 calls/s per worker; a worker at least
    assert least_worker_seconds([0.0, 20.0, 20.5, 80.0], 1.0, 0.1, 2) == 1 + 1 + 2 + 4
    assert least_worker_seconds([5.0] * 4, 0.5, 0.1, 2, minimum=2) == 4.0
