"""What this node tells the cluster about itself: the address peers dial and its metadata
(``own_meta`` builds it at start; ``PublishedMeta`` keeps it as it changes)."""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable

from gossip.events import Member

from .config import NodeConfig, NodeConfigError, parse_host_port
from .events import ClusterEvent, EventKind
from .metadata import MetadataTooLarge, NodeMeta, encode_meta
from .platform_info import default_route_ip, normalise_arch, normalise_platform
from .platform_info import hostname as machine_hostname

__all__ = ["PublishedMeta", "advertise_address", "host_port", "own_meta"]

_LONGEST_API = "[ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff]:65535"


def advertise_address(config: NodeConfig, bind_host: str, ts_ip: str | None) -> tuple[str, int]:
    """(host, port) peers dial; port 0 means "the bound port".

    Raises:
        NodeConfigError: ``--advertise tailscale`` without a Tailscale address, or a host
            name that does not resolve.
    """
    advertise = config.advertise
    if advertise == "tailscale":
        if not ts_ip:
            raise NodeConfigError("--advertise", "tailscale: no Tailscale address found on "
                                                 "this machine (is tailscaled up?)")
        return ts_ip, 0
    if advertise:
        host, port = parse_host_port(advertise, default_port=0)
        return _resolve(host, "--advertise"), port
    if bind_host in ("0.0.0.0", "::", ""):
        return default_route_ip(), 0
    return bind_host, 0


def own_meta(config: NodeConfig, *, version: str, advertise_host: str, ts_ip: str | None,
             started_at: float, uuid: bytes = b"") -> NodeMeta:
    """This node's metadata (without its API address, known once the socket is bound).

    Raises:
        NodeConfigError: it would not fit in gossip even with the longest API address
            (too many or too long skills and tags); checked before anything listens.
    """
    meta = NodeMeta(
        version=version, platform=normalise_platform(), arch=normalise_arch(),
        hostname=config.hostname or machine_hostname(), ip_address=advertise_host,
        tailscale_ip=ts_ip or "", skills=tuple(config.skills), tags=tuple(config.tags),
        port=config.port, max_concurrent_tasks=config.max_concurrent_tasks,
        started_at=started_at, no_coordinator=config.no_coordinator,
        maintenance=config.maintenance, uuid=uuid,
    )
    try:
        encode_meta(meta.replace(api=_LONGEST_API))
    except MetadataTooLarge as exc:
        raise NodeConfigError("--skills", str(exc)) from None
    return meta


class PublishedMeta:
    """This node's metadata as it publishes it now. It changes on a reload's new labels,
    on the maintenance switch and on the election's claims; every change is handed to
    ``announce`` (the agent gossips it, with an incarnation bump, and re-elects).

    Args:
        announce: publishes a changed metadata.
        publish: the cluster event bus (``EventBus.publish``): this node's own
            maintenance switch is published here (gossip reports only the others').
        node_id: this node's id (known once the store is open).
        member: a member of the table while gossip runs (None otherwise).
        wall_clock: unix time, for the events.
    """

    def __init__(self, *, announce: Callable[[NodeMeta], None],
                 publish: Callable[[ClusterEvent], None], node_id: Callable[[], str],
                 member: Callable[[str], Member | None],
                 wall_clock: Callable[[], float]) -> None:
        self.meta = NodeMeta()
        """As published (the agent sets the first one at start, before gossip runs)."""
        self._announce = announce
        self._publish = publish
        self._node_id = node_id
        self._member = member
        self._wall = wall_clock

    def set(self, meta: NodeMeta) -> None:
        """Publish ``meta`` in place of the current metadata."""
        self.meta = meta
        self._announce(meta)

    def relabel(self, config: NodeConfig) -> None:
        """Take ``config``'s skills, tags and task limit (a reload).

        Raises:
            NodeConfigError: they would not fit in gossip; nothing changed.
        """
        meta = self.meta.replace(skills=tuple(config.skills), tags=tuple(config.tags),
                                 max_concurrent_tasks=config.max_concurrent_tasks)
        try:
            encode_meta(meta)
        except MetadataTooLarge as exc:
            raise NodeConfigError(config.written_as("skills"), str(exc)) from None
        self.set(meta)

    def set_maintenance(self, enabled: bool) -> None:
        """Enter or leave maintenance (no-op if already so), and publish the switch."""
        if self.meta.maintenance == enabled:
            return
        self.set(self.meta.replace(maintenance=enabled))
        node_id = self._node_id()
        own = self._member(node_id)
        address = host_port(*own.address) if own is not None else ""
        self._publish(ClusterEvent(EventKind.MAINTENANCE, node_id, address, self._wall(),
                                   {"enabled": enabled, "worker": False}))


def host_port(host: str, port: int) -> str:
    """``host:port``, with an IPv6 host in brackets."""
    return f"[{host}]:{port}" if ":" in host else f"{host}:{port}"


def _resolve(host: str, flag: str) -> str:
    try:
        ipaddress.ip_address(host)
        return host
    except ValueError:
        pass
    try:
        return str(socket.getaddrinfo(host, None, type=socket.SOCK_DGRAM)[0][4][0])
    except OSError as exc:
        raise NodeConfigError(flag, f"cannot resolve {host!r}: {exc}") from None
