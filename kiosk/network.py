"""Where phones reach the booth: the base URL QR codes carry.

Never taken from a request's ``Host`` header: that header is the client's to choose, so a
forged one would put another site's address into every guest's QR code (the cache-poisoning
and password-reset-poisoning class of bugs; Django checks it against ``ALLOWED_HOSTS`` for the
same reason). The base comes from the settings alone: ``public_url`` when set, else the bind
address, else (bound to every interface) this machine's LAN address.
"""

from __future__ import annotations

import ipaddress
import socket
from functools import cache
from pathlib import Path

from kiosk.config import Settings

WILDCARDS = {"", "0.0.0.0", "::", "*"}
ROUTE_TABLE = Path("/proc/net/route")


def _default_route_interface(table: Path = ROUTE_TABLE) -> str | None:
    """The interface that carries the IPv4 default route (destination 0.0.0.0/0)."""
    try:
        lines = table.read_text().splitlines()[1:]
    except OSError:
        return None
    for line in lines:
        fields = line.split()
        if len(fields) >= 8 and fields[1] == "00000000" and fields[7] == "00000000":
            return fields[0]
    return None


def _interface_ipv4(interface: str) -> str | None:
    """The first IPv4 address of a network interface (Linux ``SIOCGIFADDR``)."""
    import fcntl
    import struct

    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        try:
            packed = fcntl.ioctl(
                probe.fileno(), 0x8915, struct.pack("256s", interface.encode()[:15])
            )
        except OSError:
            return None
    return socket.inet_ntoa(packed[20:24])


@cache
def lan_address() -> str | None:
    """The first non-loopback IPv4 address of the interface with the default route, or
    None when the machine has no such network (a booth on its own)."""
    interface = _default_route_interface()
    address = _interface_ipv4(interface) if interface else None
    if address and not ipaddress.ip_address(address).is_loopback:
        return address
    return None


def _url(host: str, port: int) -> str:
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _reachable_host(settings: Settings) -> str:
    """The address this server is reached at from the network: its bind address, or the
    LAN address when it listens on every interface."""
    if settings.host in WILDCARDS:
        return lan_address() or "127.0.0.1"
    return settings.host


def public_base(settings: Settings) -> str:
    """The base URL of the phone download links (no trailing slash)."""
    if settings.public_url:
        return settings.public_url.rstrip("/")
    return _url(_reachable_host(settings), settings.port)
