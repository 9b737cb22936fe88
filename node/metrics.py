"""The agent's Prometheus metrics: ``AgentCollector`` reads the gossip core's counters,
health score and timings, the driver's and the agent's at scrape time.

Nothing is counted twice: the core keeps its counters (``gossip.stats.CoreStats``), its
histograms (``SwimProtocol.probe_rtt``, ``push_pull_durations``) and its members; this
collector only translates them when ``/metrics`` is read. It is registered with the
API's registry (``api.metrics``) when the REST stack loads (``attach``), so an idle
member imports neither it nor ``prometheus_client``.

Metric names follow Prometheus' conventions: ``claw_`` prefix, ``_total`` counters,
seconds.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterator
from typing import TYPE_CHECKING

from prometheus_client.core import (
    CounterMetricFamily,
    GaugeMetricFamily,
    HistogramMetricFamily,
    Metric,
)
from prometheus_client.registry import Collector

from gossip.histogram import Histogram
from gossip.view_digest import view_digest

if TYPE_CHECKING:
    from gossip.events import Member
    from gossip.protocol import SwimProtocol
    from gossip.udp import GossipTransport

__all__ = ["CORE_COUNTERS", "DROP_REASONS", "AgentCollector"]

CORE_COUNTERS: dict[str, tuple[str, str]] = {
    "probes": ("claw_probes_total", "Probe rounds this node started"),
    "probe_failures": ("claw_probe_failures_total", "Probe rounds that got no ack"),
    "acks_in": ("claw_acks_total", "Acks received"),
    "nacks_in": ("claw_nacks_total", "Nacks received (a helper could not reach a target)"),
    "indirect_probes": ("claw_indirect_probes_total", "Indirect ping requests sent"),
    "tcp_pings": ("claw_tcp_fallback_probes_total", "TCP fallback pings opened"),
    "suspicions": ("claw_suspicions_raised_total",
                   "Members this node started suspecting (its own or a received accusation)"),
    "recoveries": ("claw_suspicions_refuted_total",
                   "Suspected members that refuted the suspicion (came back alive)"),
    "refutes": ("claw_self_refutations_total",
                "Times this node refuted a suspicion (or death) about itself"),
    "deaths": ("claw_members_failed_total", "Members declared dead"),
    "joins": ("claw_members_joined_total", "Members that joined (new or back)"),
    "leaves": ("claw_members_left_total", "Members that left gracefully"),
    "push_pulls_out": ("claw_push_pulls_out_total", "Push-pulls this node opened"),
    "push_pulls_in": ("claw_push_pulls_in_total", "Push-pulls peers opened with this node"),
    "push_pull_failures": ("claw_push_pull_failures_total", "Outbound push-pulls that failed"),
    "query_plaintext_answers": ("claw_query_plaintext_answers_dropped_total",
                                "Answers to this node's key queries dropped: unencrypted "
                                "while it holds gossip keys (anyone could have sent them)"),
    "query_plaintext_relays": ("claw_query_plaintext_relays_dropped_total",
                               "Query relays dropped: unencrypted, and forwarding them would "
                               "seal them under this node's key"),
}
"""Core counter → (metric name, help)."""

DROP_REASONS = (
    "malformed", "malformed_parts", "crc_errors", "unknown_type", "bad_vsn", "bad_names",
    "meta_too_large", "unknown_zero_incarnation", "pings_wrong_node", "unexpected_acks",
    "relays_refused", "members_refused", "streams_refused", "datagrams_dropped",
    "app_state_errors",
)
"""Core counters of input dropped, exposed as ``claw_dropped_total{reason=...}``; a
``decrypt_failed_<reason>`` counter (the encryption layer's, one per
``DecryptionFailed.reason``) is added by prefix."""

_STATES = ("alive", "suspect", "dead", "left")


def _histogram(name: str, help_text: str, hist: Histogram) -> HistogramMetricFamily:
    buckets = [("+Inf" if b == float("inf") else repr(b), float(n))
               for b, n in hist.cumulative()]
    return HistogramMetricFamily(name, help_text, buckets=buckets, sum_value=hist.sum)


class AgentCollector(Collector):
    """Yields the agent's metrics at each scrape.

    Args:
        transport: the gossip transport (None or stopped: only what needs no core).
        members: every member the core knows (``Agent.members``).
        events_published: the event bus's published count.
    """

    def __init__(self, transport: Callable[[], GossipTransport | None],
                 members: Callable[[], list[Member]],
                 events_published: Callable[[], int]) -> None:
        self._transport = transport
        self._members = members
        self._events_published = events_published

    def collect(self) -> Iterator[Metric]:
        members = self._members()
        by_state = Counter(m.state.name.lower() for m in members)
        gauge = GaugeMetricFamily("claw_members", "Members this node knows, by state",
                                  labels=["state"])
        for state in _STATES:
            gauge.add_metric([state], by_state.get(state, 0))
        yield gauge
        yield GaugeMetricFamily(
            "claw_view_digest", "CRC-32 of the sorted (name, incarnation, state) of every "
            "member: equal on the nodes of a converged cluster", value=view_digest(members))
        yield CounterMetricFamily("claw_cluster_events_total",
                                  "Cluster events this node published on its event bus",
                                  value=self._events_published())
        transport = self._transport()
        core: SwimProtocol | None = transport.core if transport is not None and transport.running else None
        if core is None or transport is None:
            return
        stats = core.stats
        yield GaugeMetricFamily("claw_health_score",
                                "Lifeguard local health score (0 = healthy; higher: this "
                                "node is slow or isolated)", value=core.health_score)
        yield GaugeMetricFamily("claw_broadcast_queue_depth",
                                "Broadcasts waiting to be gossiped", value=core.pending_broadcasts)
        for key, (name, help_text) in CORE_COUNTERS.items():
            yield CounterMetricFamily(name, help_text, value=stats.get(key, 0))
        dropped = CounterMetricFamily("claw_dropped_total",
                                      "Input dropped: undecodable, undecryptable or refused, "
                                      "by reason", labels=["reason"])
        # Decrypt failures by reason (``decrypt_failed_no-key``, ...), not their total.
        for key in (*DROP_REASONS, *sorted(k for k in stats if k.startswith("decrypt_failed_"))):
            dropped.add_metric([key], stats.get(key, 0))
        yield dropped
        packets = CounterMetricFamily("claw_packets_total", "Gossip datagrams",
                                      labels=["direction"])
        packets.add_metric(["in"], stats.get("packets_in", 0))
        packets.add_metric(["out"], stats.get("packets_out", 0))
        yield packets
        traffic = CounterMetricFamily("claw_bytes_total", "Gossip bytes (datagrams and streams)",
                                      labels=["direction"])
        traffic.add_metric(["in"], stats.get("bytes_in", 0))
        traffic.add_metric(["out"], stats.get("bytes_out", 0))
        yield traffic
        yield _histogram("claw_probe_rtt_seconds",
                         "Round trip of probes acked directly (all peers together)",
                         core.probe_rtt)
        yield _histogram("claw_push_pull_duration_seconds",
                         "Outbound push-pulls that succeeded, open to merge",
                         core.push_pull_durations)
        driver = CounterMetricFamily("claw_transport_errors_total",
                                     "Socket-level failures of the gossip driver, by kind",
                                     labels=["kind"])
        for key, value in sorted(transport.stats.items()):
            if "error" in key or "timeout" in key or "dropped" in key or "refused" in key:
                driver.add_metric([key], value)
        yield driver
