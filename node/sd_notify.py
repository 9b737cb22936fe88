"""A dependency-free client of systemd's service notification protocol (``sd_notify(3)``).

A ``Type=notify`` unit gets ``$NOTIFY_SOCKET``: an ``AF_UNIX`` datagram socket, a file
path or, with a leading ``@``, a name in Linux's abstract namespace. Each notification is
one datagram of newline-separated ``KEY=VALUE`` lines. Without the variable (not run by
systemd, or on macOS/Windows) every call is a no-op, so the agent can call these
unconditionally.

The agent tells systemd: ``READY=1`` once gossip listens and its first join attempt ended
(``node.agent``), ``RELOADING=1`` then ``READY=1`` around a configuration reload
(``node.reload``), ``STOPPING=1`` when it starts leaving, and ``STATUS=`` text that
``systemctl status`` shows.
"""

from __future__ import annotations

import logging
import os
import socket
import time
from collections.abc import Mapping

__all__ = ["notify", "notify_ready", "notify_reloading", "notify_status", "notify_stopping"]

log = logging.getLogger(__name__)

_SEND_TIMEOUT_S = 1.0
"""Upper bound of one send, seconds: systemd reads at once; a stuck socket must not stall
the agent's event loop for longer than this."""


def _socket_address(environ: Mapping[str, str]) -> str | None:
    """``$NOTIFY_SOCKET`` as an ``AF_UNIX`` address (``@name`` → ``\\0name``), or None
    when unset or of a kind this client does not speak (``vsock:``)."""
    value = environ.get("NOTIFY_SOCKET", "")
    if value.startswith("@"):
        return "\0" + value[1:]
    if value.startswith("/"):
        return value
    if value:
        log.debug("NOTIFY_SOCKET %r: unsupported address, notifications off", value)
    return None


def notify(fields: Mapping[str, str], environ: Mapping[str, str] | None = None) -> bool:
    """Send one notification made of ``fields`` (``{"READY": "1", "STATUS": "..."}``).

    Args:
        fields: the ``KEY=VALUE`` pairs, sent in order in one datagram. Values must not
            contain a newline (it would start a new field); newlines are replaced by spaces.
        environ: where to read ``NOTIFY_SOCKET`` (default: ``os.environ``).
    Returns:
        True when the datagram was sent; False when notifications are off (no socket) or
        the send failed (logged at WARNING: systemd may then time the start out).
    """
    address = _socket_address(os.environ if environ is None else environ)
    if address is None or not hasattr(socket, "AF_UNIX"):
        return False
    message = "\n".join(f"{key}={str(value).replace(chr(10), ' ')}"
                        for key, value in fields.items())
    try:
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as sock:
            sock.settimeout(_SEND_TIMEOUT_S)
            sock.sendto(message.encode(), address)
    except OSError as exc:
        log.warning("sd_notify %s: cannot send to NOTIFY_SOCKET (%s)",
                    ",".join(fields), exc)
        return False
    return True


def notify_ready(status: str | None = None, environ: Mapping[str, str] | None = None) -> bool:
    """``READY=1``: start-up finished (or a reload did); with an optional ``STATUS=``."""
    fields = {"READY": "1"}
    if status is not None:
        fields["STATUS"] = status
    return notify(fields, environ)


def notify_reloading(environ: Mapping[str, str] | None = None) -> bool:
    """``RELOADING=1`` with ``MONOTONIC_USEC``, the ``CLOCK_MONOTONIC`` time of the reload
    in microseconds (systemd ≥ 253 requires it to match the reload to its request; on
    Linux ``time.monotonic_ns`` reads that clock). Follow with ``notify_ready()``."""
    usec = time.monotonic_ns() // 1000
    return notify({"RELOADING": "1", "MONOTONIC_USEC": str(usec)}, environ)


def notify_stopping(environ: Mapping[str, str] | None = None) -> bool:
    """``STOPPING=1``: the agent is leaving the cluster and will exit."""
    return notify({"STOPPING": "1"}, environ)


def notify_status(text: str, environ: Mapping[str, str] | None = None) -> bool:
    """``STATUS=text``: one line shown by ``systemctl status``."""
    return notify({"STATUS": text}, environ)
