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

DNS queries (dnspython) go straight to the nameservers of /etc/resolv.conf, because the usual
`socket.gethostbyaddr` answers from /etc/hosts first, where Docker maps the container's IP to its
hostname (the short container id), not to its name; the socket resolver stays as a fallback.
"""

from __future__ import annotations

import re
import socket
import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.reversename

from producer.errors import UsageError
from producer.scheduling.shard import Shard

AUTO = "auto"
AUTO_PREFIX = "auto/"
DERIVE = 0  # parse_auto("auto"): no N given, count the replicas
_REPLICA = re.compile(r"[-_](\d+)$")
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


def _ask(
    name: str | dns.name.Name, rdtype: dns.rdatatype.RdataType, server: str, port: int, timeout: float
) -> list[Any]:
    """One query over UDP, recursion desired, to one server: the rdata of every `rdtype` answer.

    dnspython checks that the response answers our query (id and question) and raises
    dns.exception.DNSException otherwise; an error answer (NXDOMAIN, SERVFAIL, ...) gives none.
    """
    query = dns.message.make_query(name, rdtype)
    response = dns.query.udp(query, server, timeout=timeout, port=port)
    if response.rcode() != dns.rcode.NOERROR:
        return []
    # a CNAME on the way is skipped: only the records of the type asked for
    return [rdata for rrset in response.answer if rrset.rdtype == rdtype for rdata in rrset]


def query_ptr(ip: str, server: str, port: int = 53, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Ask one DNS server (UDP) for the PTR names of `ip`; OSError/DNSException when it does not answer sanely."""
    answers = _ask(dns.reversename.from_address(ip), dns.rdatatype.PTR, server, port, timeout)
    return [rdata.target.to_text(omit_final_dot=True) for rdata in answers]


def query_a(name: str, server: str, port: int = 53, timeout: float = DNS_TIMEOUT) -> list[str]:
    """Ask one DNS server (UDP) for the IPv4 addresses of `name`; OSError/DNSException if it does not answer sanely."""
    return [rdata.address for rdata in _ask(name, dns.rdatatype.A, server, port, timeout)]


def own_ip() -> str:
    """This container's IP: its hostname resolved (Docker maps it in /etc/hosts)."""
    return socket.gethostbyname(socket.gethostname())


# no answer, a malformed or foreign one, or a name DNS cannot carry (a label over 63 characters)
_DNS_ERRORS = (OSError, ValueError, dns.exception.DNSException)


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
