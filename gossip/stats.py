"""The core's counters: one slotted object, so a misspelt counter fails loudly.

``SwimProtocol.stats`` returns them as a dict (``as_dict``) together with a few figures
computed on demand (``members``, ``broadcasts_dropped``).

Traffic: ``packets_in/out``, ``bytes_in/out``, ``streams_in/out``.
Drops by reason: ``malformed`` (undecodable datagram/stream/field), ``malformed_parts``
(bad compound parts, bad push-pull states), ``crc_errors``, ``unknown_type``,
``bad_vsn``, ``bad_names``, ``meta_too_large``, ``unknown_zero_incarnation``,
``pings_wrong_node``, ``unexpected_acks``, ``relays_refused``, ``members_refused``
(table full), ``streams_refused``, ``events_dropped``, ``datagrams_dropped``,
``serf_ignored`` (Serf events/queries/others), ``app_duplicates``,
``app_too_large_to_relay``, ``app_state_errors``, ``internal_errors`` (bugs; see
``SwimProtocol.last_internal_error``).
Failure detection: ``probes``, ``probe_failures``, ``probes_abandoned``, ``acks_in``,
``nacks_in``, ``indirect_probes``, ``tcp_pings``, ``relays``, ``suspicions``,
``confirmations``, ``deaths``, ``leaves``, ``refutes``, ``confirm_probes`` (claw-node
out-of-turn probes of a suspect someone else accused), ``last_chance_probes``
(claw-node: a weakly confirmed verdict waited for one more probe; ``last_chance_probe``), ``suspicion_restarts``
(claw-node: a suspicion of a newer incarnation restarted ours), ``suspect_acks``
(claw-node: a suspect acked our probe; ``suspect_ack_grace``),
``stale_accusations_answered`` (claw-node: ``answer_stale_accusations``),
``announce_out`` (claw-node: datagrams of joins and leaves sent straight to members),
``floors_withheld`` (claw-node: a suspicion kept memberlist's minimum because we were
unhealthy or the suspect refuted recently), ``late_timers`` (claw-node: a timer handled
``late_timer_s`` or more after it was due; each raised our health score).
Membership: ``joins``, ``updates``, ``recoveries``, ``name_conflicts``,
``claims_applied`` (claw-node: an alive refused as a name conflict, applied when the
life it conflicted with was declared dead), ``stale_alives``, ``reaccusations``,
``reaped``, ``pruned`` (erased at once by a leave intent with ``prune``),
``address_checks`` (``check_address`` calls), ``outbids`` (``outbid`` calls that raised
our incarnation).
Coordinates (``GossipConfig.coordinates``): ``coordinates_malformed`` (an ack payload
that is no coordinate), ``coordinates_rejected`` (a coordinate or RTT the Vivaldi client
refused: NaN/Inf, wrong dimension, RTT outside 0-10 s; Serf's
``serf.coordinate.rejected``).
Anti-entropy: ``push_pulls_out``, ``push_pulls_in``, ``push_pull_failures``,
``reconnects``, ``serf_intents``, ``app_messages_in``, ``catch_ups`` (claw-node: push-pulls
started while the view grows during a mass join, ``gossip.catch_up``).
"""

from __future__ import annotations

__all__ = ["CoreStats"]


class CoreStats:
    """Counters since start, all ints starting at 0 (names in the module docstring)."""

    packets_in: int
    bytes_in: int
    packets_out: int
    bytes_out: int
    streams_in: int
    streams_out: int
    malformed: int
    malformed_parts: int
    crc_errors: int
    unknown_type: int
    name_conflicts: int
    refutes: int
    probes: int
    probe_failures: int
    acks_in: int
    nacks_in: int
    indirect_probes: int
    tcp_pings: int
    relays: int
    relays_refused: int
    unexpected_acks: int
    pings_wrong_node: int
    suspicions: int
    confirmations: int
    deaths: int
    leaves: int
    joins: int
    updates: int
    recoveries: int
    stale_alives: int
    reaccusations: int
    bad_vsn: int
    unknown_zero_incarnation: int
    members_refused: int
    meta_too_large: int
    push_pulls_out: int
    push_pulls_in: int
    push_pull_failures: int
    streams_refused: int
    events_dropped: int
    datagrams_dropped: int
    serf_intents: int
    serf_ignored: int
    app_messages_in: int
    app_duplicates: int
    app_state_errors: int
    internal_errors: int
    reaped: int
    reconnects: int
    bad_names: int
    claims_applied: int
    app_too_large_to_relay: int
    announce_out: int
    suspect_acks: int
    stale_accusations_answered: int
    late_timers: int
    probes_abandoned: int
    confirm_probes: int
    last_chance_probes: int
    floors_withheld: int
    suspicion_restarts: int
    coordinates_malformed: int
    coordinates_rejected: int
    address_checks: int
    outbids: int
    pruned: int
    catch_ups: int

    # One slot per annotated counter, in the order above (``as_dict`` keeps it).
    __slots__ = tuple(__annotations__)

    def __init__(self) -> None:
        for name in _NAMES:
            setattr(self, name, 0)

    def as_dict(self) -> dict[str, int]:
        """Every counter by name, in a fixed order."""
        return {name: getattr(self, name) for name in _NAMES}


_NAMES: tuple[str, ...] = CoreStats.__slots__
