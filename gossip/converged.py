"""Cores that start inside a converged cluster: the simulator's loader.

For simulations of steady-state clusters (crash detection, load, churn at thousands of
nodes) every core starts knowing every member, as if the cluster had been running for
a while, instead of simulating N joins. The join itself is not simulated, so nothing
about joining can be concluded from such a run.

All cores share one ``SharedTable`` copy-on-write: a core copies a record only when it
changes it (``Membership.writable``).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from random import Random

from .addresses import ip_to_bytes
from .config import GossipConfig
from .decode_cache import DecodeCache
from .errors import LocalProtocolError
from .keyring import Keyring
from .membership import MemberRecord, Membership, SharedTable, meta_is_claw
from .messages import VSN_SERF
from .protocol import SwimProtocol
from .types import Address, MemberState

__all__ = ["CONVERGED_STATUS_LTIME", "converged_table", "in_converged_cluster"]

CONVERGED_STATUS_LTIME = 1
"""Serf status LTime of every member of a ``converged_table``: the LTime of a first
join intent (Serf's clocks start at 1)."""


def converged_table(members: Iterable[tuple[str, Address, bytes, int]],
                    now: float) -> SharedTable:
    """The member table of a cluster in which everybody knows everybody.

    ``members`` are ``(name, (ip, port), meta, incarnation)``; each becomes the record a
    core keeps after receiving that member's alive (state alive since ``now``, Serf's
    protocol versions, joined with LTime ``CONVERGED_STATUS_LTIME``). One table is
    shared read-only by every core built with ``in_converged_cluster``.
    """
    records = []
    for name, (ip, port), meta, incarnation in members:
        records.append(MemberRecord(
            name=name, ip=ip, port=port, meta=meta, incarnation=incarnation,
            state=MemberState.ALIVE, state_since=now, vsn=VSN_SERF,
            is_claw=meta_is_claw(meta), ip_bytes=ip_to_bytes(ip),
            status_ltime=CONVERGED_STATUS_LTIME,
        ))
    return SharedTable(records)


def in_converged_cluster(config: GossipConfig, table: SharedTable, *, name: str,
                         address: Address, meta: bytes = b"", rng: Random, now: float,
                         incarnation: int = 1,
                         app_state: Callable[[], bytes] | None = None,
                         decode_cache: DecodeCache | None = None,
                         strict: bool = False,
                         keyring: Keyring | None = None) -> SwimProtocol:
    """A core that already knows every member of ``table`` (itself included): nothing
    queued to gossip, no events, probe order, push-pull and reconnect timers at random
    phases of their periods.

    Arguments as for ``SwimProtocol``; ``name``, ``address``, ``meta`` and
    ``incarnation`` must match our entry in ``table`` (else ``LocalProtocolError``).
    """
    core = SwimProtocol(config, name=name, address=address, meta=meta, rng=rng, now=now,
                        incarnation=incarnation, app_state=app_state,
                        decode_cache=decode_cache, strict=strict, keyring=keyring)
    _adopt(core, table, CONVERGED_STATUS_LTIME, now)
    return core


def _adopt(core: SwimProtocol, table: SharedTable, status_ltime: int, now: float) -> None:
    """Make a fresh ``core`` know every member of ``table`` as a long-running node would:
    nothing queued to gossip, probe order and timers at random phases. It sets the
    core's private state: this loader is part of the core, used only by the simulator."""
    me = core._self
    entry = table.records.get(me.name)
    if (entry is None or entry.address != me.address or entry.meta != me.meta
            or entry.incarnation != me.incarnation):
        raise LocalProtocolError(f"{me.name!r} is not in the table as itself")
    me.status_ltime = entry.status_ltime
    core._serf.clock.witness(status_ltime)
    members = Membership.from_shared(core._cfg.max_members, table, me)
    core._members = members
    core._prober.adopt(members, table.names)
    core._user.adopt(members)
    core._queries.adopt(members)
    core._gossiper.adopt(members)
    core._outbox.forget_memberlist()  # our alive is known to all
    core._version += 1
    core._exchanges.adopt(members, now)
