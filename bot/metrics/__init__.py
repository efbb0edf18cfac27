"""Prometheus metrics and a health check for ``modbot serve`` (``[metrics] port``).

``MetricsServer`` serves ``/metrics`` and ``/healthz``; ``ServiceCollector`` reads the running bot at
scrape time; ``VerdictTally`` counts what the pipeline's and the judge's verdict hooks report.
"""

from __future__ import annotations

from modbot.metrics.collector import ERROR_KINDS, ServiceCollector
from modbot.metrics.health import Health, HealthProbe
from modbot.metrics.server import MetricsServer, start_metrics
from modbot.metrics.tally import LATENCY_BUCKETS_S, VerdictTally

__all__ = [
    "ERROR_KINDS",
    "LATENCY_BUCKETS_S",
    "Health",
    "HealthProbe",
    "MetricsServer",
    "ServiceCollector",
    "VerdictTally",
    "start_metrics",
]
