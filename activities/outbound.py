"""Where a source's requests may go: public addresses only, unless the operator lists the host.

A source's `base_url` is typed by a person, and the URLs a sync follows (pagination `Link`
headers, `next` fields, redirects) come from the remote system. Without a rule, a sync could be
aimed at the machine itself, the private network or the cloud metadata service
(169.254.169.254) and report what it read there. So every request a connector makes:

- uses `http` or `https`, names a host and carries no user name or password;
- goes to a host listed in `BALOO_SOURCE_ALLOWED_HOSTS` (a local stand-in of an API, an
  internal Bugzilla), or else to a name whose every address is public: never loopback, private,
  link-local, unique-local, shared (carrier-grade NAT), multicast, reserved or unspecified, nor
  such an address wrapped in IPv6 (IPv4-mapped, 6to4, NAT64);
- connects to the very address that was checked (`PublicOnlyAdapter` pins it, keeping the name
  for the `Host` header and for TLS), so a name that resolves elsewhere a moment later (DNS
  rebinding) cannot move the connection. Through a proxy from the environment the proxy resolves
  the name again: the check still applies, the pin cannot.

Remote systems' words reach run records and logs only through `remote_text`: control and
formatting characters removed, length capped.
"""

import ipaddress
import socket
import time
import unicodedata
from dataclasses import dataclass
from urllib.parse import urlsplit

import requests
from django.conf import settings
from requests.adapters import HTTPAdapter
from requests.utils import select_proxy

SCHEMES = ("http", "https")
# NAT64 prefixes (RFC 6052, RFC 8215): the IPv4 address is the last 32 bits.
NAT64_WELL_KNOWN = ipaddress.ip_network("64:ff9b::/96")
NAT64_LOCAL_USE = ipaddress.ip_network("64:ff9b:1::/48")
SHARED_ADDRESS_SPACE = ipaddress.ip_network("100.64.0.0/10")
# A checked address is reused this long by one client, so a sync does not ask DNS before every page.
RESOLVE_SECONDS = 300.0
REMOTE_TEXT_LIMIT = 120


class OutboundRefused(Exception):
    """A request Baloo will not make; the message says which URL and why (never a ValueError:
    requests would turn that into a retried connection error)."""


@dataclass(frozen=True, slots=True)
class Target:
    """Where one request goes: the host as written, and the checked address to connect to."""

    host: str
    port: int
    address: str


def allowed_hosts() -> set[str]:
    """The operator's exceptions, normalised like the hosts they are compared with."""
    return {_normalised_host(host) for host in settings.BALOO_SOURCE_ALLOWED_HOSTS if host.strip()}


def url_problem(url: str) -> str | None:
    """Why `url` can never be fetched (scheme, host, credentials), without asking DNS; None if it can."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return f"{remote_text(url.split('?', 1)[0], limit=100)} is not a valid URL"
    if parts.scheme.lower() not in SCHEMES:
        return f"{url_shown(url)}: only http and https URLs are fetched"
    if not parts.hostname:
        return f"{url_shown(url)}: the URL names no host"
    if parts.username is not None or parts.password is not None:
        return f"{url_shown(url)}: a URL may not carry a user name or password (a source's token goes in a BALOO_TOKEN_ variable)"
    if port == 0:
        return f"{url_shown(url)}: port 0 is not a port"
    return None


def literal_address_problem(url: str) -> str | None:
    """Why `url` is refused when its host is an address written out (no DNS asked); None otherwise."""
    problem = url_problem(url)
    if problem:
        return problem
    host = _normalised_host(urlsplit(url).hostname or "")
    if host in allowed_hosts():
        return None
    try:
        address = ipaddress.ip_address(host)
    except ValueError:
        return None
    reason = address_problem(address)
    return _refusal(url, host, f"{address} is {reason}") if reason else None


def address_problem(address: ipaddress.IPv4Address | ipaddress.IPv6Address) -> str | None:
    """Why a connection to `address` is refused ("a loopback address"…), or None for a public one."""
    if isinstance(address, ipaddress.IPv6Address):
        embedded = address.ipv4_mapped or address.sixtofour
        if address in NAT64_WELL_KNOWN:
            embedded = ipaddress.IPv4Address(int(address) & 0xFFFFFFFF)
        if address in NAT64_LOCAL_USE:
            return "a local-use NAT64 address"
        if embedded is not None:
            reason = address_problem(embedded)
            return f"a wrapped form of {embedded}, {reason}" if reason else None
        if address.teredo:
            return "a Teredo tunnel address"
        if address.is_site_local:
            return "a site-local address"
    if address.is_unspecified:
        return "an unspecified address"
    if address.is_loopback:
        return "a loopback address"
    if address.is_link_local:
        return "a link-local address (where cloud metadata services answer)"
    if address.is_multicast:
        return "a multicast address"
    if isinstance(address, ipaddress.IPv4Address) and address in SHARED_ADDRESS_SPACE:
        return "a shared (carrier-grade NAT) address"
    if address.is_reserved:
        return "a reserved address"
    if address.is_private:
        return "a private address"
    if not address.is_global:
        return "not a public address"
    return None


def target_resolve(url: str) -> Target:
    """Check `url` and every address its host resolves to; the first address is the one to connect to.

    Raises `OutboundRefused` for a URL or address Baloo will not reach, and requests'
    `ConnectionError` when the name does not resolve (a sync retries those).
    """
    problem = url_problem(url)
    if problem:
        raise OutboundRefused(problem)
    parts = urlsplit(url)
    host = _normalised_host(parts.hostname or "")
    port = parts.port or (443 if parts.scheme.lower() == "https" else 80)
    try:
        answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as error:
        raise requests.ConnectionError(f"{url_shown(url)}: the host name does not resolve ({error})") from None
    addresses = [ipaddress.ip_address(str(sockaddr[0]).split("%", 1)[0]) for *_rest, sockaddr in answers]
    if not addresses:
        raise requests.ConnectionError(f"{url_shown(url)}: the host name has no address")
    if host not in allowed_hosts():
        for address in addresses:
            reason = address_problem(address)
            if reason:
                raise OutboundRefused(_refusal(url, host, f"{address} is {reason}"))
    # One address is pinned, so there is no falling back from one family to the other as a plain
    # connection would: IPv4 first, which every dual-stack server answers on ("localhost" may list ::1 first).
    chosen = next((address for address in addresses if address.version == 4), addresses[0])
    return Target(host=host, port=port, address=str(chosen))


class PublicOnlyAdapter(HTTPAdapter):
    """A requests transport that checks every request's destination and connects to the checked address."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self._resolved: dict[tuple[str, str, int | None], tuple[float, Target]] = {}

    def get_connection_with_tls_context(self, request, verify, proxies=None, cert=None):
        target = self._target(request.url)
        if select_proxy(request.url, proxies):
            return super().get_connection_with_tls_context(request, verify, proxies=proxies, cert=cert)
        host_params, pool_kwargs = self.build_connection_pool_key_attributes(request, verify, cert)
        host_params["host"] = target.address
        if host_params["scheme"] == "https":
            # TLS still speaks to, and verifies the certificate of, the name in the URL.
            pool_kwargs["server_hostname"] = target.host
        # The connection goes to an address; the server is still told which site is asked for.
        request.headers["Host"] = urlsplit(request.url).netloc
        return self.poolmanager.connection_from_host(**host_params, pool_kwargs=pool_kwargs)

    def _target(self, url: str) -> Target:
        parts = urlsplit(url)
        try:
            key = (parts.scheme.lower(), (parts.hostname or "").lower(), parts.port)
        except ValueError:
            raise OutboundRefused(url_problem(url) or "not a valid URL") from None
        now = time.monotonic()
        cached = self._resolved.get(key)
        if cached and cached[0] > now:
            return cached[1]
        target = target_resolve(url)
        self._resolved[key] = (now + RESOLVE_SECONDS, target)
        return target


def remote_text(text: object, *, limit: int = REMOTE_TEXT_LIMIT) -> str:
    """A remote system's words made safe to show: no control or formatting characters, one line, capped."""
    cleaned = "".join(" " if unicodedata.category(char)[0] in "CZ" and char != " " else char for char in str(text))
    cleaned = " ".join(cleaned.split())
    return cleaned if len(cleaned) <= limit else cleaned[: limit - 1].rstrip() + "…"


def _normalised_host(host: str) -> str:
    host = host.strip().strip("[]").lower().rstrip(".")
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return host


def _refusal(url: str, host: str, reason: str) -> str:
    return (
        f"{url_shown(url)}: refused: {reason}. Sources reach only public addresses; "
        f"an operator can allow {host} with BALOO_SOURCE_ALLOWED_HOSTS"
    )


def url_shown(url: str) -> str:
    """The URL for a message: no query string (it may hold a key), no user name or password, capped."""
    try:
        parts = urlsplit(url)
        host = parts.hostname or ""
        port = f":{parts.port}" if parts.port else ""
    except ValueError:
        return "an invalid URL"
    if ":" in host:
        host = f"[{host}]"
    return remote_text(f"{parts.scheme}://{host}{port}{parts.path}", limit=200)
