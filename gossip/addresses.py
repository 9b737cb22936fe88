"""IP addresses as memberlist carries them: raw ``net.IP`` bytes (4, or 16 for IPv6 and
for the IPv4-mapped form ``::ffff:a.b.c.d`` that Go produces for a 0.0.0.0 bind)."""

from __future__ import annotations

import ipaddress

from gossip.errors import MalformedPacket

__all__ = ["ip_to_bytes", "bytes_to_ip"]


def ip_to_bytes(ip: str) -> bytes:
    """``"127.0.0.1"`` -> 4 bytes, an IPv6 address -> 16 bytes. Raises ValueError if not an IP."""
    return ipaddress.ip_address(ip).packed


def bytes_to_ip(raw: bytes) -> str:
    """4 or 16 raw bytes -> textual IP; IPv4-mapped IPv6 becomes plain dotted IPv4.

    Raises ``MalformedPacket`` for any other length (the bytes come from the network).
    """
    if not isinstance(raw, (bytes, bytearray)):
        raise MalformedPacket(f"IP address must be bytes, got {type(raw).__name__}")
    if len(raw) == 4:
        return f"{raw[0]}.{raw[1]}.{raw[2]}.{raw[3]}"  # = str(IPv4Address), no object
    if len(raw) == 16:
        addr = ipaddress.IPv6Address(bytes(raw))
        mapped = addr.ipv4_mapped
        return str(mapped) if mapped is not None else str(addr)
    raise MalformedPacket(f"IP address must be 4 or 16 bytes, got {len(raw)}")
