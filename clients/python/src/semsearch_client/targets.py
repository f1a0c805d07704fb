"""Where the channel connects: one server, or several replicas balanced on the client.

One address ("host:port", or any gRPC target such as ``dns:///name:port``) is passed to gRPC as it
is. Several addresses ("a:1,b:2", or a list) become one ``ipv4:`` (or ``ipv6:``) target, which
gRPC resolves to every address at once; the channel then balances calls round-robin over the
replicas that report SERVING on the standard health service. gRPC's address lists take no host
names: for a name that resolves to every replica, give ``dns:///name:port`` with ``balance=True``.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass

# Targets that already name a resolver: given to gRPC whole, never split at commas.
SCHEMES = ("dns:", "ipv4:", "ipv6:", "unix:", "unix-abstract:", "vsock:")

Targets = str | Sequence[str]


@dataclass(frozen=True, slots=True)
class ChannelTarget:
    """What to give gRPC: the target, whether it names several servers, and the authority to
    present (the first address, the name TLS checks the certificate against) when it does."""

    target: str
    several: bool
    authority: str | None = None


def channel_target(targets: Targets) -> ChannelTarget:
    """The gRPC target for ``targets``: one address, comma-separated addresses, or a list of them.

    ``ValueError`` for an empty address, and for several addresses that are not all IPv4 or all
    IPv6 literals with a port.
    """
    addresses = split_targets(targets)
    if len(addresses) == 1:
        (only,) = addresses
        if only.startswith(("ipv4:", "ipv6:")) and "," in only:  # an address list already
            return ChannelTarget(only, several=True, authority=only.partition(":")[2].split(",")[0])
        return ChannelTarget(only, several=False)
    literals = [_ip_address(address) for address in addresses]
    families = {family for family, _, _ in literals}
    if len(families) > 1:
        raise ValueError("several targets must be all IPv4 or all IPv6 addresses, not a mix")
    (family,) = families
    bracketed = family == "ipv6"
    joined = ",".join(f"[{host}]:{port}" if bracketed else f"{host}:{port}" for _, host, port in literals)
    first = addresses[0]
    return ChannelTarget(f"{family}:{joined}", several=True, authority=first)


def split_targets(targets: Targets) -> list[str]:
    """Every address in ``targets``, in order; a target with a resolver scheme stays whole."""
    given = [targets] if isinstance(targets, str) else list(targets)
    addresses: list[str] = []
    for item in given:
        if not isinstance(item, str):
            raise TypeError(f"a target is a string, got {type(item).__name__}")
        text = item.strip()
        parts = [text] if text.startswith(SCHEMES) else [part.strip() for part in text.split(",")]
        if not all(parts):
            raise ValueError(f"empty address in target {item!r}")
        addresses.extend(parts)
    if not addresses:
        raise ValueError("no target given")
    if len(addresses) > 1 and any(a.startswith(SCHEMES) for a in addresses):
        raise ValueError("a target with a scheme (dns:, ipv4:, unix:...) cannot be combined with others")
    return addresses


def _ip_address(address: str) -> tuple[str, str, int]:
    """(family, host, port) of "1.2.3.4:port" or "[::1]:port"."""
    if address.startswith("["):
        host, bracket, port = address[1:].partition("]:")
        if not bracket:
            raise ValueError(f"{address!r}: write an IPv6 address as [address]:port")
    else:
        host, colon, port = address.rpartition(":")
        if not colon or ":" in host:
            raise ValueError(f"{address!r}: several targets need host:port each ([address]:port for IPv6)")
    try:
        ip = ipaddress.ip_address(host)
    except ValueError:
        raise ValueError(
            f"{address!r}: several targets must be IP addresses (gRPC's address lists take no names); "
            "for a name that resolves to every replica, give one target dns:///NAME:PORT and balance=True"
        ) from None
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise ValueError(f"{address!r}: the port must be a number from 1 to 65535")
    return ("ipv6" if ip.version == 6 else "ipv4"), ip.compressed, int(port)
