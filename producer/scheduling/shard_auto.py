"""`--shard auto/N`: a compose replica works out its own shard from its container name.

`docker compose up --scale data-generator=3` starts containers named `<project>-data-generator-1`
... `-3` (Compose v2; `<project>_data-generator_1` with v1), but tells none of them its number. Each
replica finds its own name by asking Docker's embedded DNS server (the nameserver of every
container on a user-defined network) for the PTR record of its own IP address: the answer is
`<container-name>.<network>`. Replica k of N becomes shard (k-1)/N.

The PTR query goes straight to the nameservers of /etc/resolv.conf, because the usual
`socket.gethostbyaddr` answers from /etc/hosts first, where Docker maps the container's IP to its
hostname (the short container id), not to its name; `gethostbyaddr` stays as a fallback.
"""

from __future__ import annotations

import random
import re
import socket
import struct
from collections.abc import Callable, Iterable
from pathlib import Path

from producer.errors import UsageError
from producer.scheduling.shard import Shard

AUTO_PREFIX = "auto/"
_REPLICA = re.compile(r"[-_](\d+)$")
_PTR, _IN = 12, 1
DNS_TIMEOUT = 2.0


def parse_auto(text: str) -> int | None:
    """N for `auto/N` (N >= 1); None for anything else; ValueError for `auto/` with a bad N."""
    if not text.strip().lower().startswith(AUTO_PREFIX):
        return None
    count = int(text.strip()[len(AUTO_PREFIX):])
    if count < 1:
        raise ValueError(text)
    return count


def shard_from_container_name(name: str, count: int) -> Shard:
    """Shard of a compose container name: `datagen-data-generator-3` (or `datagen_data-generator_3`,
    or a DNS answer `datagen-data-generator-3.datagen_default.`) with count 3 -> Shard(2, 3).

    ValueError when the name carries no replica number or the number is not in 1..count.
    """
    if count < 1:
        raise ValueError(f"replica count must be at least 1, found {count}")
    # a DNS answer is "<container-name>.<network>[.]"; compose container names have no dots
    base = name.strip().rstrip(".").split(".", 1)[0]
    match = _REPLICA.search(base)
    if match is None:
        raise ValueError(f"container name {name!r} does not end in a replica number (-<n> or _<n>)")
    replica = int(match.group(1))
    if not 1 <= replica <= count:
        raise ValueError(
            f"container {base!r} is replica {replica} but the replica count is {count} "
            f"(set REPLICAS to the --scale value: REPLICAS={replica} or more)"
        )
    return Shard(replica - 1, count)


def nameservers(resolv_conf: Path = Path("/etc/resolv.conf")) -> list[str]:
    """IPv4 nameservers listed in resolv.conf (Docker's embedded DNS is 127.0.0.11)."""
    try:
        lines = resolv_conf.read_text(encoding="utf-8", errors="replace").splitlines()
    except OSError:
        return []
    found = []
    for line in lines:
        parts = line.split()
        if len(parts) >= 2 and parts[0] == "nameserver" and re.fullmatch(r"\d+\.\d+\.\d+\.\d+", parts[1]):
            found.append(parts[1])
    return found


def _reverse_name(ip: str) -> str:
    return ".".join(reversed(ip.split("."))) + ".in-addr.arpa"


def build_ptr_query(ip: str, query_id: int) -> bytes:
    """A DNS query packet (RFC 1035) for the PTR record of an IPv4 address, recursion desired."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(label)]) + label.encode("ascii") for label in _reverse_name(ip).split(".")) + b"\0"
    return header + qname + struct.pack("!HH", _PTR, _IN)


def _read_name(packet: bytes, offset: int) -> tuple[str, int]:
    """A possibly compressed domain name at `offset`: (name, offset just past it in the record)."""
    labels: list[str] = []
    end = None
    for _ in range(128):  # bounded: a malicious pointer loop cannot hang us
        length = packet[offset]
        if length & 0xC0 == 0xC0:
            if end is None:
                end = offset + 2
            offset = ((length & 0x3F) << 8) | packet[offset + 1]
            continue
        if length == 0:
            return ".".join(labels), (offset + 1 if end is None else end)
        labels.append(packet[offset + 1:offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    raise ValueError("DNS name with too many labels or a pointer loop")


def parse_ptr_response(packet: bytes, query_id: int) -> list[str]:
    """The PTR target names of a DNS response to our query (empty on an error answer)."""
    if len(packet) < 12:
        raise ValueError("short DNS response")
    rid, flags, qdcount, ancount, _, _ = struct.unpack("!HHHHHH", packet[:12])
    if rid != query_id or not flags & 0x8000:
        raise ValueError("not the response to our query")
    if flags & 0x000F:  # rcode: NXDOMAIN, SERVFAIL, ...
        return []
    offset = 12
    for _ in range(qdcount):
        _, offset = _read_name(packet, offset)
        offset += 4
    names = []
    for _ in range(ancount):
        _, offset = _read_name(packet, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", packet[offset:offset + 10])
        offset += 10
        if rtype == _PTR:
            names.append(_read_name(packet, offset)[0])
        offset += rdlength
    return names


def query_ptr(ip: str, server: str, port: int = 53, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Ask one DNS server (UDP) for the PTR names of `ip`; OSError/ValueError when it does not answer sanely."""
    query_id = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(build_ptr_query(ip, query_id), (server, port))
        packet, _ = sock.recvfrom(4096)
    return parse_ptr_response(packet, query_id)


def own_ip() -> str:
    """This container's IP: its hostname resolved (Docker maps it in /etc/hosts)."""
    return socket.gethostbyname(socket.gethostname())


def candidate_names(ip: str, servers: Iterable[str] | None = None) -> list[str]:
    """Names of `ip`: PTR answers of the resolv.conf nameservers, then gethostbyaddr's name and aliases."""
    names: list[str] = []
    for server in nameservers() if servers is None else servers:
        try:
            names += query_ptr(ip, server)
        except (OSError, ValueError, IndexError, struct.error):
            continue
    try:
        host, aliases, _ = socket.gethostbyaddr(ip)
        names += [host, *aliases]
    except OSError:
        pass
    return names


def detect_shard(count: int, *, ip: Callable[[], str] = own_ip,
                 names: Callable[[str], list[str]] = candidate_names) -> Shard:
    """This compose replica's shard of `count`, from its container name; UsageError when it cannot tell."""
    if count < 1:
        raise UsageError(f"--shard auto/{count}: the replica count must be at least 1")
    if count == 1:
        return Shard(0, 1)  # nothing to detect, and works outside a container too
    try:
        address = ip()
    except OSError as exc:
        raise UsageError(f"--shard auto/{count}: cannot resolve this host's own IP address ({exc})") from None
    found = names(address)
    problems = []
    for name in found:
        try:
            return shard_from_container_name(name, count)
        except ValueError as exc:
            problems.append(str(exc))
    detail = "; ".join(problems) if problems else f"no DNS name found for {address}"
    raise UsageError(
        f"--shard auto/{count}: cannot tell which compose replica this is ({detail}); "
        "auto works inside a compose service on a user-defined network, otherwise pass --shard i/n"
    )
