"""Prometheus metrics of one server, in their own registry (two servers in one process never collide)."""

from __future__ import annotations

from typing import Any, Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, disable_created_metrics, generate_latest
from prometheus_client.exposition import CONTENT_TYPE_LATEST

disable_created_metrics()  # no `*_created` timestamp series: they double the output and say nothing here

LATENCY_BUCKETS = (0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1.0, 2.0, 5.0, 10.0)


class ServerMetrics:
    """Requests by route and status, request latency, batch sizes and step time, live streams, evictions."""

    content_type = CONTENT_TYPE_LATEST

    def __init__(self, live_streams: Callable[[], int], max_batch: int):
        self.registry = CollectorRegistry(auto_describe=True)
        self._children: dict[tuple[str, int], tuple[Any, Any]] = {}
        self.requests = Counter("rnncli_requests", "HTTP requests by route template and status code",
                                ["route", "status"], registry=self.registry)
        self.latency = Histogram("rnncli_request_seconds", "Time from request to response, by route template",
                                 ["route"], buckets=LATENCY_BUCKETS, registry=self.registry)
        batch_buckets = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, max_batch})
        self.batch_size = Histogram("rnncli_batch_streams", "Streams (or stateless samples) per compiled step",
                                    buckets=[b for b in batch_buckets if b <= max_batch], registry=self.registry)
        self.step_seconds = Histogram("rnncli_step_seconds", "Time of one compiled step, gather and scatter included",
                                      buckets=LATENCY_BUCKETS, registry=self.registry)
        self.streams = Gauge("rnncli_live_streams", "Streams whose states the server keeps", registry=self.registry)
        self.streams.set_function(lambda: float(live_streams()))
        self.evictions = Counter("rnncli_evicted_streams", "Streams dropped after --idle-timeout",
                                 registry=self.registry)
        self.model_errors = Counter("rnncli_model_errors", "Compiled steps that failed (answered with 500)",
                                    registry=self.registry)
        self.saves = Counter("rnncli_state_saves", "Times the stream states were written to --state-dir",
                             registry=self.registry)

    def observe_request(self, route: str, status: int, seconds: float) -> None:
        """Count one answered request and its latency (the labelled children are looked up once per route and
        status: the lookup costs as much as the update)."""
        children = self._children.get((route, status))
        if children is None:
            children = self._children[(route, status)] = (self.requests.labels(route, str(status)),
                                                          self.latency.labels(route))
        children[0].inc()
        children[1].observe(seconds)

    def render(self) -> bytes:
        return generate_latest(self.registry)
