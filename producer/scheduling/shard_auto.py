"""`--shard auto` and `--shard auto/N`: a compose replica works out its own shard.

`docker compose up --scale data-generator=3` starts containers named `<project>-data-generator-1`
... `-3` (Compose v2; `<project>_data-generator_1` with v1), but tells none of them its number. Each
replica finds its own name by asking Docker's embedded DNS server (the nameserver of every
container on a user-defined network) for the PTR record of its own IP address: the answer is
`<container-name>.<network>`. Replica k of N becomes shard (k-1)/N.

N is either given (`auto/N`) or, with plain `auto`, counted: Docker's DNS answers the service name
(`data-generator`) with one A record per running replica. The service name is the container name
without its project prefix and replica number; the candidate whose answer holds this container's
own address is the one. The count is polled for a few seconds (replicas start one after another)
and must reach this replica's number; when it cannot be counted, the run refuses to start rather
than produce a duplicate of every event. Scaling a running service changes N: recreate the replicas
(`docker compose up --scale data-generator=5 --force-recreate`) so that every one counts again.

DNS queries go straight to the nameservers of /etc/resolv.conf, because the usual
`socket.gethostbyaddr` answers from /etc/hosts first, where Docker maps the container's IP to its
hostname (the short container id), not to its name; the socket resolver stays as a fallback.
"""

from __future__ import annotations

import random
import re
import socket
import struct
import time
from collections.abc import Callable, Iterable
from pathlib import Path

from producer.errors import UsageError
from producer.scheduling.shard import Shard

AUTO = "auto"
AUTO_PREFIX = "auto/"
DERIVE = 0  # parse_auto("auto"): no N given, count the replicas
_REPLICA = re.compile(r"[-_](\d+)$")
_A, _PTR, _IN = 1, 12, 1
DNS_TIMEOUT = 2.0
SETTLE_POLLS = 3  # the replica count is the largest of this many answers ...
SETTLE_INTERVAL = 1.0  # ... this many seconds apart
PEER_PATIENCE = 20.0  # seconds to wait for the count to reach this replica's own number


def parse_auto(text: str) -> int | None:
    """N for `auto/N` (N >= 1), DERIVE for `auto`; None for anything else; ValueError for `auto/` with a bad N."""
    if text.strip().lower() == AUTO:
        return DERIVE
    if not text.strip().lower().startswith(AUTO_PREFIX):
        return None
    count = int(text.strip()[len(AUTO_PREFIX) :])
    if count < 1:
        raise ValueError(text)
    return count


def replica_of(name: str) -> tuple[str, int]:
    """(container name without its replica number, the number) of a compose container name or DNS answer.

    `datagen-data-generator-3.datagen_default.` -> ("datagen-data-generator", 3); ValueError without a number.
    """
    # a DNS answer is "<container-name>.<network>[.]"; compose container names have no dots
    base = name.strip().rstrip(".").split(".", 1)[0]
    match = _REPLICA.search(base)
    if match is None:
        raise ValueError(f"container name {name!r} does not end in a replica number (-<n> or _<n>)")
    return base[: match.start()], int(match.group(1))


def shard_from_container_name(name: str, count: int) -> Shard:
    """Shard of a compose container name: `datagen-data-generator-3` (or `datagen_data-generator_3`,
    or a DNS answer `datagen-data-generator-3.datagen_default.`) with count 3 -> Shard(2, 3).

    ValueError when the name carries no replica number or the number is not in 1..count.
    """
    if count < 1:
        raise ValueError(f"replica count must be at least 1, found {count}")
    _, replica = replica_of(name)
    if not 1 <= replica <= count:
        raise ValueError(
            f"container {name.strip().rstrip('.').split('.', 1)[0]!r} is replica {replica} but the replica count "
            f"is {count} (use --shard auto to count the replicas, or auto/N with N the --scale value)"
        )
    return Shard(replica - 1, count)


def service_candidates(name: str) -> list[str]:
    """Possible compose service names of a container name, the likeliest first.

    `main-data-generator-2.main_default` -> data-generator (project `main` read off the default
    network's name) first, then every shorter or longer dash/underscore suffix of `main-data-generator`.
    """
    base, _ = replica_of(name)
    found: list[str] = []
    network = name.strip().rstrip(".").partition(".")[2]
    project = network.removesuffix("_default") if network.endswith("_default") else ""
    if project and base[: len(project) + 1] in {project + "-", project + "_"}:
        found.append(base[len(project) + 1 :])
    found += [base[m.end() :] for m in re.finditer(r"[-_]", base) if base[m.end() :]]
    found.append(base)
    return list(dict.fromkeys(found))


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


def build_query(name: str, qtype: int, query_id: int) -> bytes:
    """A DNS query packet (RFC 1035) for one record type of a name, recursion desired."""
    header = struct.pack("!HHHHHH", query_id, 0x0100, 1, 0, 0, 0)
    qname = b"".join(bytes([len(label)]) + label.encode("ascii") for label in name.strip(".").split(".")) + b"\0"
    return header + qname + struct.pack("!HH", qtype, _IN)


def build_ptr_query(ip: str, query_id: int) -> bytes:
    """A DNS query packet for the PTR record of an IPv4 address."""
    return build_query(_reverse_name(ip), _PTR, query_id)


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
        labels.append(packet[offset + 1 : offset + 1 + length].decode("ascii", errors="replace"))
        offset += 1 + length
    raise ValueError("DNS name with too many labels or a pointer loop")


def _answers(packet: bytes, query_id: int, qtype: int) -> list[tuple[int, int]]:
    """(offset, length) of the rdata of every `qtype` answer of a response to our query."""
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
    found = []
    for _ in range(ancount):
        _, offset = _read_name(packet, offset)
        rtype, _, _, rdlength = struct.unpack("!HHIH", packet[offset : offset + 10])
        offset += 10
        if rtype == qtype:  # a CNAME on the way is skipped
            found.append((offset, rdlength))
        offset += rdlength
    return found


def parse_ptr_response(packet: bytes, query_id: int) -> list[str]:
    """The PTR target names of a DNS response to our query (empty on an error answer)."""
    return [_read_name(packet, offset)[0] for offset, _ in _answers(packet, query_id, _PTR)]


def parse_a_response(packet: bytes, query_id: int) -> list[str]:
    """The IPv4 addresses of a DNS response to our A query (empty on an error answer)."""
    answers = _answers(packet, query_id, _A)
    return [socket.inet_ntoa(packet[offset : offset + 4]) for offset, length in answers if length == 4]


def _ask(query: Callable[[int], bytes], server: str, port: int, timeout: float) -> tuple[bytes, int]:
    """Send one query over UDP: (response packet, query id)."""
    query_id = random.randrange(1 << 16)
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(query(query_id), (server, port))
        packet, _ = sock.recvfrom(4096)
    return packet, query_id


def query_ptr(ip: str, server: str, port: int = 53, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Ask one DNS server (UDP) for the PTR names of `ip`; OSError/ValueError when it does not answer sanely."""
    packet, query_id = _ask(lambda qid: build_ptr_query(ip, qid), server, port, timeout)
    return parse_ptr_response(packet, query_id)


def query_a(name: str, server: str, port: int = 53, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Ask one DNS server (UDP) for the IPv4 addresses of `name`; OSError/ValueError when it does not answer sanely."""
    packet, query_id = _ask(lambda qid: build_query(name, _A, qid), server, port, timeout)
    return parse_a_response(packet, query_id)


def own_ip() -> str:
    """This container's IP: its hostname resolved (Docker maps it in /etc/hosts)."""
    return socket.gethostbyname(socket.gethostname())


_DNS_ERRORS = (OSError, ValueError, IndexError, struct.error)


def candidate_names(ip: str, servers: Iterable[str] | None = None) -> list[str]:
    """Names of `ip`: PTR answers of the resolv.conf nameservers, then gethostbyaddr's name and aliases."""
    names: list[str] = []
    for server in nameservers() if servers is None else servers:
        try:
            names += query_ptr(ip, server)
        except _DNS_ERRORS:
            continue
    try:
        host, aliases, _ = socket.gethostbyaddr(ip)
        names += [host, *aliases]
    except OSError:
        pass
    return names


def service_addresses(name: str, servers: Iterable[str] | None = None) -> set[str]:
    """IPv4 addresses of a service name: the first resolv.conf nameserver that knows it, else the socket resolver."""
    for server in nameservers() if servers is None else servers:
        try:
            found = query_a(name, server)
        except _DNS_ERRORS:
            continue
        if found:
            return set(found)
    try:
        return set(socket.gethostbyname_ex(name)[2])
    except (OSError, UnicodeError):
        return set()


def _own_address(flag: str, ip: Callable[[], str]) -> str:
    try:
        return ip()
    except OSError as exc:
        raise UsageError(f"--shard {flag}: cannot resolve this host's own IP address ({exc})") from None


def detect_shard(
    count: int, *, ip: Callable[[], str] = own_ip, names: Callable[[str], list[str]] = candidate_names
) -> Shard:
    """This compose replica's shard of `count` (DERIVE: counted) from its container name; UsageError if unknown."""
    if count == DERIVE:
        return derive_shard(ip=ip, names=names)
    if count < 1:
        raise UsageError(f"--shard auto/{count}: the replica count must be at least 1")
    try:
        address = _own_address(f"auto/{count}", ip)
    except UsageError:
        if count == 1:
            return Shard(0, 1)  # no address, so no compose replica: a lone process owns every key
        raise
    found = names(address)
    problems = []
    for name in found:
        try:
            return shard_from_container_name(name, count)
        except ValueError as exc:
            problems.append(str(exc))
    if count == 1 and not any(" is replica " in p for p in problems):
        return Shard(0, 1)  # not a numbered replica (a lone process anywhere): the whole key space
    detail = "; ".join(problems) if problems else f"no DNS name found for {address}"
    raise UsageError(
        f"--shard auto/{count}: cannot tell which compose replica this is ({detail}); "
        "auto works inside a compose service on a user-defined network, otherwise pass --shard i/n"
    )


def _find_service(
    address: str, found: list[str], addresses: Callable[[str], set[str]]
) -> tuple[str, int, str, set[str]]:
    """(container, replica number, service name, its addresses): the first name whose service resolves to us."""
    problems = []
    for name in found:
        try:
            base, replica = replica_of(name)
        except ValueError as exc:
            problems.append(str(exc))
            continue
        for service in service_candidates(name):
            peers = addresses(service)
            if address in peers:
                return f"{base}-{replica}", replica, service, peers
        problems.append(f"no service name of {name.rstrip('.')!r} resolves to this container's address {address}")
    detail = "; ".join(problems) if problems else f"no DNS name found for {address}"
    raise UsageError(
        f"--shard auto: cannot count the replicas of this compose service ({detail}); auto works inside a "
        "compose service on a user-defined network, otherwise pass --shard i/n"
    )


def derive_shard(
    *,
    ip: Callable[[], str] = own_ip,
    names: Callable[[str], list[str]] = candidate_names,
    addresses: Callable[[str], set[str]] = service_addresses,
    sleep: Callable[[float], None] = time.sleep,
    polls: int = SETTLE_POLLS,
    interval: float = SETTLE_INTERVAL,
    patience: float = PEER_PATIENCE,
) -> Shard:
    """`--shard auto`: replica k of the N addresses the service name resolves to is shard (k-1)/N."""
    address = _own_address("auto", ip)
    container, replica, service, peers = _find_service(address, names(address), addresses)
    count, waited, answers = len(peers), 0.0, 1
    # replicas start one after another: take the largest of a few answers, and wait for our own number
    while answers < polls or (count < replica and waited < patience):
        sleep(interval)
        waited += interval
        answers += 1
        count = max(count, len(addresses(service)))
    if count < replica:
        raise UsageError(
            f"--shard auto: container {container!r} is replica {replica} but the service name {service!r} "
            f"resolves to only {count} address(es) after {waited:.0f}s; refusing to start with an overlapping shard "
            "(pass --shard auto/N with N the --scale value, or --shard i/n)"
        )
    return Shard(replica - 1, count)
