"""Refused name claims, kept until the life they conflicted with ends (claw-node
``GossipConfig.replay_refused_claims``).

An alive message for a name whose life here still looks alive, from another address
(typically the node restarted elsewhere before its old life was declared dead), is
refused as a name conflict: two live holders of one name, the first is kept. Nobody
re-gossips a refused alive, so once the old life is declared dead or left the new holder
would stay unknown until its next alive or a push-pull. The record therefore keeps the
newest refused claim (one per member, so memory stays bounded) and the core applies it
when it marks the old life down, if that happens within ``refused_claim_ttl``.
memberlist forgets the claim (``aliveNode`` reports the conflict and returns).
"""

from __future__ import annotations

from .config import GossipConfig
from .membership import MemberRecord, Membership
from .messages import Alive
from .suspicion import suspicion_bounds

__all__ = ["claim_to_replay", "refused_claim_ttl", "remember_refused_claim"]


def remember_refused_claim(members: Membership, rec: MemberRecord, claim: Alive,
                           now: float) -> MemberRecord:
    """Keep ``claim`` on ``rec`` unless it holds a newer one; returns the record as it
    now is in ``members`` (a private copy if it changed and was shared)."""
    held = rec.refused_claim
    if held is not None and claim.incarnation < held.incarnation:
        return rec
    rec = members.writable(rec)
    rec.refused_claim, rec.refused_claim_at = claim, now
    return rec


def claim_to_replay(rec: MemberRecord, now: float, config: GossipConfig,
                    cluster_size: int) -> Alive | None:
    """The claim to apply now that ``rec``'s life was marked dead or left, if one is held
    and still fresh; the record forgets it either way (``rec`` must be writable)."""
    claim, rec.refused_claim = rec.refused_claim, None
    if claim is None or now - rec.refused_claim_at > refused_claim_ttl(config, cluster_size):
        return None
    return claim


def refused_claim_ttl(config: GossipConfig, cluster_size: int) -> float:
    """How long a refused claim stays worth applying, in seconds: twice the longest
    suspicion timeout (the old life it conflicted with is normally dead within one)."""
    _, max_s = suspicion_bounds(config.suspicion_mult, config.suspicion_max_mult,
                                cluster_size, config.probe_interval_s)
    return 2.0 * max_s
