"""Prometheus metrics of one app (its own registry, so apps in one process do not mix)."""

from __future__ import annotations

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram


class Metrics:
    """Decisions by strategy, segment and outcome; latency; errors; the log's commits."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        self.decisions = Counter(
            "fengkong_decisions", "Decisions made and logged.",
            ["strategy", "version", "segment", "outcome"], registry=self.registry)
        self.shadow = Counter(
            "fengkong_shadow_decisions", "Candidate (shadow) decisions logged, not returned.",
            ["strategy", "version", "outcome"], registry=self.registry)
        self.latency = Histogram(
            "fengkong_decision_seconds", "Time from request to durable decision.",
            ["strategy"], registry=self.registry,
            buckets=(0.0005, 0.001, 0.002, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1.0))
        self.errors = Counter(
            "fengkong_errors", "Requests answered with an error, by HTTP status.",
            ["status"], registry=self.registry)
        self.source_calls = Counter(
            "fengkong_source_calls", "Data source outcomes per decision, by status "
            "(OK, NO_DATA, consent refusals, TIMEOUT, ERROR, ...).",
            ["strategy", "source", "status"], registry=self.registry)
        self.source_latency = Histogram(
            "fengkong_source_seconds", "Time a data source took to answer (calls made).",
            ["source"], registry=self.registry,
            buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0))
        self.log_batches = Gauge(
            "fengkong_log_commits", "Commits made by the decision log writer.",
            registry=self.registry)
        self.log_records = Gauge(
            "fengkong_log_records", "Records appended by this process.",
            registry=self.registry)
        # Monitoring over the recent window of the decision log (segment "all" = every one);
        # refreshed on scrape when older than the TTL, never on the decision path.
        monitor = ["tenant", "strategy", "segment"]
        self.monitor_decisions = Gauge(
            "fengkong_monitor_decisions", "Decisions in the monitoring window.",
            monitor, registry=self.registry)
        self.monitor_approval_rate = Gauge(
            "fengkong_monitor_approval_rate", "Share of approve decisions in the monitoring "
            "window.", monitor, registry=self.registry)
        self.monitor_score_psi = Gauge(
            "fengkong_monitor_score_psi", "Score PSI of the monitoring window against the "
            "reference (the development sample, else the window before).",
            monitor, registry=self.registry)
        self.monitor_refreshed = Gauge(
            "fengkong_monitor_refreshed_timestamp_seconds", "When the monitoring gauges were "
            "last computed (Unix time).", registry=self.registry)
