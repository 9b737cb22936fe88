"""What this node tells the cluster about itself: the address peers dial and its metadata."""

from __future__ import annotations

import ipaddress
import socket

from .config import NodeConfig, NodeConfigError, parse_host_port
from .metadata import MetadataTooLarge, NodeMeta, encode_meta
from .platform_info import default_route_ip, normalise_arch, normalise_platform
from .platform_info import hostname as machine_hostname

__all__ = ["advertise_address", "host_port", "own_meta"]

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
