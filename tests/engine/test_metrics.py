"""Reading the per-minute metric hashes: one parser for counters, sums and histograms."""

from __future__ import annotations

from engine.runtime.metrics import aggregate, bucket_upper_ms, fold


def test_fold_sums_minutes_by_field_kind() -> None:
    window = fold(
        [
            {b"r3": b"2", b"rs": b"10", b"c": b"2", b"e": b"1"},
            {b"r3": b"1", b"w1": b"5", b"ws": b"7.5", b"f": b"1"},
            {},
        ],
        3,
    )
    assert (window.run, window.run_sum_ms) == ({3: 3}, 10.0)
    assert (window.wait, window.wait_sum_ms) == ({1: 5}, 7.5)
    assert (window.counters["c"], window.counters["f"], window.counters["e"]) == (2, 1, 1)
    assert window.per_minute_completed == (2, 0, 0)


def test_aggregate_gives_rates_percentiles_and_averages() -> None:
    rows = [{b"c": b"3", b"e": b"1", b"r4": b"3", b"rs": b"9", b"w0": b"3", b"ws": b"0"}]
    metrics = aggregate(rows, 60)
    assert metrics.completed == 3
    assert metrics.failure_rate == 0.25
    assert metrics.jobs_per_hour == 3.0
    assert metrics.run_p95_ms == round(bucket_upper_ms(4), 1)
    assert metrics.run_avg_ms == 3.0
    assert metrics.wait_p50_ms == round(bucket_upper_ms(0), 1)
    assert aggregate([{}], 60).run_p50_ms is None
