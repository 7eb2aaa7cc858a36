"""Histograms in the Prometheus text format: cumulative buckets, +Inf, _sum and _count."""

from __future__ import annotations

from gateway.metrics import Metrics


def test_a_histogram_renders_cumulative_buckets() -> None:
    metrics = Metrics()
    metrics.inc("alerts_total", verdict="new")
    for seconds in (3.0, 5.0, 42.5, 7200.0):
        metrics.observe("alert_press_to_acknowledged_seconds", seconds, buckets=(5.0, 60.0, 3600.0))
    lines = metrics.render().splitlines()
    assert lines[lines.index("# TYPE panic_alert_press_to_acknowledged_seconds histogram"):] == [
        "# TYPE panic_alert_press_to_acknowledged_seconds histogram",
        'panic_alert_press_to_acknowledged_seconds_bucket{le="5"} 2',  # a bound is inclusive
        'panic_alert_press_to_acknowledged_seconds_bucket{le="60"} 3',
        'panic_alert_press_to_acknowledged_seconds_bucket{le="3600"} 3',
        'panic_alert_press_to_acknowledged_seconds_bucket{le="+Inf"} 4',
        "panic_alert_press_to_acknowledged_seconds_sum 7250.5",
        "panic_alert_press_to_acknowledged_seconds_count 4",
    ]
    assert 'panic_alerts_total{verdict="new"} 1' in lines
    assert metrics.histogram("alert_press_to_acknowledged_seconds") == (4, 7250.5)
    assert metrics.histogram("unknown") == (0, 0.0)
