"""Where phones reach the booth: the base URL QR codes carry, and what stands in their way.

Never taken from a request's ``Host`` header: that header is the client's to choose, so a
forged one would put another site's address into every guest's QR code (the cache-poisoning
and password-reset-poisoning class of bugs; Django checks it against ``ALLOWED_HOSTS`` for the
same reason). The base comes from the settings and this machine's addresses alone:

1. ``public_url`` when set (a proxy, a TLS name: the operator knows best);
2. else the bind address when it names one address of a network (it is the only one the server
   answers on);
3. else (bound to loopback, or to every interface) this machine's LAN address: the first
   non-loopback IPv4 address of the interface with the default route; a booth on its own
   hotspot often has no default route, so then the first such address of any other interface
   (virtual bridges of containers and VMs left out);
4. else, with no network address at all, ``http://HOSTNAME.local:PORT``: no phone reaches a
   booth without a network whatever the QR code says, and the mDNS name is the one address that
   can still be right once the booth joins one. ``reachability`` reports it as a problem.

A loopback address is never the phones' base: on a phone, 127.0.0.1 is the phone. The base is
read once when the server starts (``kiosk.app``); a booth that changes networks is restarted.
"""

from __future__ import annotations

import ipaddress
import socket
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from kiosk.config import Settings

WILDCARDS = {"", "0.0.0.0", "::", "*"}
ROUTE_TABLE = Path("/proc/net/route")
# Interfaces that are no way into this machine for a phone: container and VM bridges.
VIRTUAL_PREFIXES = ("lo", "docker", "br-", "veth", "virbr", "vnet", "cni", "flannel", "tun")
LISTEN_FIX = (
    'set host = "0.0.0.0" in stylebooth.toml (or STYLEBOOTH_HOST=0.0.0.0, or '
    "`stylebooth serve --host 0.0.0.0`) and restart, or set public_url to the address of a "
    "proxy phones can reach"
)


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


def _usable(address: str | None) -> bool:
    return bool(address) and not ipaddress.ip_address(address or "").is_loopback


@dataclass(frozen=True)
class Addresses:
    """This machine's IPv4 addresses as a phone could use them."""

    lan: str | None  # the default route's interface's address
    others: tuple[tuple[str, str], ...]  # (interface, address) of the rest, in kernel order
    hostname: str


def machine_addresses(table: Path = ROUTE_TABLE) -> Addresses:
    """Read the addresses now (the route table, then each interface: microseconds)."""
    interface = _default_route_interface(table)
    lan = _interface_ipv4(interface) if interface else None
    others = []
    for _index, name in socket.if_nameindex():
        if name == interface or name.startswith(VIRTUAL_PREFIXES):
            continue
        address = _interface_ipv4(name)
        if address and _usable(address):
            others.append((name, address))
    return Addresses(lan if _usable(lan) else None, tuple(others), socket.gethostname())


def lan_address() -> str | None:
    """The first non-loopback IPv4 address of the interface with the default route, or
    None when the machine has no such network (a booth on its own)."""
    return machine_addresses().lan


def is_loopback(host: str) -> bool:
    """Whether ``host`` (an address or a name) is this machine to whoever uses it."""
    host = host.strip("[]").lower()
    if host == "localhost" or host.endswith(".localhost"):
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False  # a host name: not resolved here (DNS is no business of the settings)


def _url(host: str, port: int) -> str:
    if ":" in host:  # an IPv6 literal
        host = f"[{host}]"
    return f"http://{host}:{port}"


def _local_host(host: str) -> str:
    """The address a browser on this machine opens for a server bound to ``host``."""
    return "127.0.0.1" if host in WILDCARDS else host


@dataclass(frozen=True)
class Problem:
    """Why phones (or the kiosk) may not reach the booth, and what to do about it."""

    what: str
    fix: str


@dataclass(frozen=True)
class Reachability:
    """The booth's addresses as people use them, with what stands in the phones' way."""

    phone_base: str  # what every QR code carries (no trailing slash)
    booth_url: str  # the guest screen, as the kiosk browser on this machine opens it
    admin_url: str | None  # the operator page (None: it is off, no admin_password)
    admin_on: bool
    problems: tuple[Problem, ...]

    def as_json(self) -> dict[str, Any]:
        return asdict(self)


def _phone_base(settings: Settings, found: Addresses) -> tuple[str, list[Problem]]:
    """The phones' base URL and the problems with it (see the module's order of choices)."""
    if settings.public_url:
        base = settings.public_url.rstrip("/")
        parts = urlsplit(base)
        if parts.scheme not in ("http", "https") or not parts.hostname:
            return base, [
                Problem(
                    f"public_url {settings.public_url!r} is no web address: QR codes lead nowhere",
                    "set public_url to http://ADDRESS:PORT or https://NAME, as a phone on the "
                    "venue's network opens it, or unset it",
                )
            ]
        if is_loopback(parts.hostname):
            return base, [
                Problem(
                    f"public_url {base} names this machine's loopback address: on a phone it "
                    "is the phone itself, so every QR code leads nowhere",
                    f"set public_url to an address phones reach (e.g. "
                    f"{_url(found.lan or 'LAN-ADDRESS', settings.port)}), or unset it",
                )
            ]
        return base, []
    problems = []
    host = settings.host
    if host not in WILDCARDS and not is_loopback(host):
        return _url(host, settings.port), []  # bound to one address of a network: that one
    if is_loopback(host):
        problems.append(
            Problem(
                f"the server listens on {host} (loopback) only: phones cannot reach it, and "
                "the QR codes' download links will not open",
                LISTEN_FIX,
            )
        )
    address = found.lan or (found.others[0][1] if found.others else None)
    if address:
        return _url(address, settings.port), problems
    problems.append(
        Problem(
            f"this machine has no network address: phones cannot reach the booth (QR codes "
            f"carry http://{found.hostname}.local:{settings.port}, its mDNS name)",
            "join the venue's Wi-Fi or start the booth's own hotspot, then restart "
            "stylebooth; or set public_url",
        )
    )
    return _url(f"{found.hostname}.local", settings.port), problems


def reachability(
    settings: Settings, found: Addresses | None = None, serving: str | None = None
) -> Reachability:
    """Every address the booth is used at and what stands in the phones' way.

    ``found``: this machine's addresses (read now when None); ``serving``: the phones' base a
    running server took at start, when known (a network changed since then is a problem).
    """
    found = machine_addresses() if found is None else found
    phone_base, problems = _phone_base(settings, found)
    if serving is not None and serving != phone_base:
        problems.append(
            Problem(
                f"the network changed since the booth started: QR codes carry {serving}, but "
                f"phones now reach the booth at {phone_base}",
                "restart stylebooth (systemctl restart stylebooth)",
            )
        )
    booth_url = _url(_local_host(settings.host), settings.port) + "/"
    admin_on = bool(settings.admin_password)
    admin_url = None
    if admin_on:
        admin_url = booth_url + "admin/"
        if settings.admin_port is not None:
            admin_host = _local_host(settings.admin_host or settings.host)
            admin_url = _url(admin_host, settings.admin_port) + "/admin/"
    return Reachability(phone_base, booth_url, admin_url, admin_on, tuple(problems))


def public_base(settings: Settings, found: Addresses | None = None) -> str:
    """The base URL of the phone download links (no trailing slash)."""
    return _phone_base(settings, machine_addresses() if found is None else found)[0]
