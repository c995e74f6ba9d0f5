"""SSRF and path guards: the only way a connector turns a host name, a path or a URL into something
it opens.

A data source's settings are typed by users, so a host name may point at the cloud metadata
service or at the studio's own database, and a path may point at ``/etc``. These functions decide
before anything is opened, and hand back what to open (an IP address, a resolved path), so that a
later DNS answer or a swapped symlink cannot change the target after the check.
"""

from __future__ import annotations

import contextlib
import hashlib
import ipaddress
import os
import socket
import tempfile
from pathlib import Path

import httpx

from datasources.connectors.base import ConnectorError, GuardPolicy, is_always_forbidden

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

# Names of cloud metadata services that are refused whatever they resolve to (some resolvers answer
# them with a public-looking address through a proxy).
FORBIDDEN_HOST_NAMES = frozenset({"metadata.google.internal", "metadata.goog"})

# NAT64 gateways route 64:ff9b::a.b.c.d to the IPv4 address a.b.c.d.
_NAT64 = ipaddress.ip_network("64:ff9b::/96")

MAX_REDIRECTS = 3
_DOWNLOAD_CHUNK = 1024 * 1024
_DEFAULT_PORTS = {"http": 80, "https": 443}
# Extensions kept on downloaded files, so that the files connector can tell the format.
_KEPT_SUFFIXES = (".csv", ".tsv", ".parquet", ".json", ".jsonl", ".ndjson", ".gz", ".zst")


# --- hosts -------------------------------------------------------------------------------------


def _normalise_host(host: str) -> str:
    if not isinstance(host, str) or not host.strip():
        raise ConnectorError("datasource_invalid_settings", "a host is required")
    if "\x00" in host or len(host) > 253 + 2:
        raise ConnectorError("datasource_invalid_settings", "the host is not a valid name or address")
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):  # an IPv6 literal as written in URLs
        name = name[1:-1]
    name = name.rstrip(".")
    if not name or any(char.isspace() or char in "/@?#" for char in name):
        raise ConnectorError("datasource_invalid_settings", "the host is not a valid name or address")
    return name


def _parse_rules(entries: tuple[str, ...]) -> tuple[set[str], list[IPNetwork]]:
    """Policy entries are host names (".example.com" matches the subdomains too) or CIDRs."""
    names: set[str] = set()
    networks: list[IPNetwork] = []
    for entry in entries:
        text = entry.strip().lower()
        try:
            networks.append(ipaddress.ip_network(text, strict=False))
        except ValueError:
            names.add(text.rstrip("."))
    return names, networks


def _name_matches(name: str, names: set[str]) -> bool:
    if name in names:
        return True
    return any(rule.startswith(".") and (name.endswith(rule) or name == rule[1:]) for rule in names)


def _addresses_behind(address: IPAddress) -> list[IPAddress]:
    """The address and every IPv4 address embedded in it that the network would route to."""
    found: list[IPAddress] = [address]
    if isinstance(address, ipaddress.IPv6Address):
        if address.ipv4_mapped is not None:
            found.append(address.ipv4_mapped)
        if address.sixtofour is not None:
            found.append(address.sixtofour)
        if address.teredo is not None:
            found.extend(address.teredo)
        if address in _NAT64:
            found.append(ipaddress.IPv4Address(int(address) & 0xFFFFFFFF))
    return found


def _parse_address(text: str) -> IPAddress:
    # getaddrinfo may append a zone ("fe80::1%eth0"); the zone does not change what is reached.
    return ipaddress.ip_address(text.split("%", 1)[0])


def check_address(address: IPAddress, policy: GuardPolicy, *, name: str = "") -> None:
    """Raises ``datasource_forbidden_host`` unless ``policy`` lets a data source reach ``address``.

    ``name`` is the host name it was resolved from, for name rules in ``allow``/``deny``.
    """
    deny_names, deny_networks = _parse_rules(policy.deny)
    allow_names, allow_networks = _parse_rules(policy.allow)
    behind = _addresses_behind(address)
    shown = name or str(address)
    if any(is_always_forbidden(item) for item in behind):
        raise ConnectorError(
            "datasource_forbidden_host", f"{shown} resolves to {address}, an address data sources may never reach"
        )
    if (name and _name_matches(name, deny_names)) or any(
        item in network for item in behind for network in deny_networks if item.version == network.version
    ):
        raise ConnectorError("datasource_forbidden_host", f"{shown} is on this deployment's deny list")
    # "Not global" covers loopback, RFC 1918, fc00::/7, 100.64/10 (carrier-grade NAT) and the
    # documentation and benchmarking ranges: none of them is a public database server.
    if any(not item.is_global for item in behind) and not policy.allow_private:
        allowed = (name and _name_matches(name, allow_names)) or all(
            any(item in network for network in allow_networks if item.version == network.version)
            for item in behind
            if not item.is_global
        )
        if not allowed:
            raise ConnectorError(
                "datasource_forbidden_host",
                f"{shown} resolves to {address}, a private or loopback address this deployment does not allow",
            )


def resolve_host(host: str, port: int, policy: GuardPolicy) -> str:
    """Checks ``host`` (a name or an IP literal, in any notation getaddrinfo accepts) and returns
    the IP address to connect to.

    Every address the name resolves to must pass, so a name with one public and one private
    address is refused. Callers connect to the returned address, never to the name again: a second
    lookup could be answered differently (DNS rebinding).
    """
    name = _normalise_host(host)
    if name in FORBIDDEN_HOST_NAMES or any(name.endswith("." + forbidden) for forbidden in FORBIDDEN_HOST_NAMES):
        raise ConnectorError("datasource_forbidden_host", f"{name} is a cloud metadata service")
    deny_names, _ = _parse_rules(policy.deny)
    if _name_matches(name, deny_names):
        raise ConnectorError("datasource_forbidden_host", f"{name} is on this deployment's deny list")
    if isinstance(port, bool) or not isinstance(port, int) or not 0 < port < 65536:
        raise ConnectorError("datasource_invalid_settings", "the port must be a number from 1 to 65535")
    try:
        infos = socket.getaddrinfo(name, port, type=socket.SOCK_STREAM)
    except socket.gaierror as exc:
        raise ConnectorError("datasource_unreachable", f"cannot resolve {name}: {exc.strerror}") from exc
    except (UnicodeError, ValueError) as exc:
        raise ConnectorError("datasource_invalid_settings", "the host is not a valid name or address") from exc
    addresses: list[IPAddress] = []
    for _family, _type, _proto, _canonname, sockaddr in infos:
        try:
            address = _parse_address(str(sockaddr[0]))
        except ValueError:
            continue
        if address not in addresses:
            addresses.append(address)
    if not addresses:
        raise ConnectorError("datasource_unreachable", f"cannot resolve {name}: no address")
    # The literal itself is checked when it is one (getaddrinfo normalises "2130706433" to
    # 127.0.0.1; the check is on that normalised address, not on the text).
    rule_name = "" if _is_ip_literal(name) else name
    for address in addresses:
        check_address(address, policy, name=rule_name)
    return str(addresses[0])


def _is_ip_literal(name: str) -> bool:
    try:
        ipaddress.ip_address(name)
    except ValueError:
        return False
    return True


# --- paths -------------------------------------------------------------------------------------


def confine_path(path: str, policy: GuardPolicy) -> Path:
    """The real path (symlinks and ``..`` resolved) of ``path``, which must lie inside one of
    ``policy.file_roots``. A relative path is taken relative to the first root.

    Callers open the returned path, so a symlink inside a root that points outside is refused.
    """
    if not isinstance(path, str | os.PathLike) or not str(path).strip():
        raise ConnectorError("datasource_invalid_settings", "a path is required")
    text = str(path).strip()
    if "\x00" in text:
        raise ConnectorError("datasource_invalid_settings", "the path contains a NUL byte")
    roots = [Path(root).resolve(strict=False) for root in policy.file_roots]
    if not roots:
        raise ConnectorError("datasource_path_forbidden", "this deployment has no file roots configured")
    candidate = Path(text)
    if not candidate.is_absolute():
        candidate = roots[0] / candidate
    try:
        resolved = candidate.resolve(strict=False)
    except (OSError, RuntimeError) as exc:  # RuntimeError: a symlink loop
        raise ConnectorError("datasource_invalid_settings", "the path cannot be resolved") from exc
    if any(resolved == root or resolved.is_relative_to(root) for root in roots):
        return resolved
    raise ConnectorError("datasource_path_forbidden", f"{text} is outside the folders this deployment allows")


# --- URLs --------------------------------------------------------------------------------------


def check_url(url: str, policy: GuardPolicy) -> httpx.URL:
    """Parses an http(s) URL and checks its host; returns the parsed URL. Does not connect."""
    if not isinstance(url, str) or not url.strip() or "\x00" in url:
        raise ConnectorError("datasource_invalid_settings", "a URL is required")
    try:
        parsed = httpx.URL(url.strip())
    except (httpx.InvalidURL, ValueError, TypeError) as exc:
        raise ConnectorError("datasource_invalid_settings", "the URL is not valid") from exc
    if parsed.scheme not in _DEFAULT_PORTS:
        raise ConnectorError("datasource_invalid_settings", "only http and https URLs can be fetched")
    if not parsed.host:
        raise ConnectorError("datasource_invalid_settings", "the URL has no host")
    resolve_host(parsed.host, parsed.port or _DEFAULT_PORTS[parsed.scheme], policy)
    return parsed


def url_file_name(url: str | httpx.URL) -> str:
    """The last segment of the URL's path ("sales.csv"), "" when there is none."""
    return httpx.URL(str(url)).path.rstrip("/").rsplit("/", 1)[-1]


def _download_name(url: str) -> str:
    digest = hashlib.sha256(url.encode("utf-8")).hexdigest()[:32]
    suffix = "".join(part for part in Path(url_file_name(url).lower()).suffixes[-2:] if part in _KEPT_SUFFIXES)
    return digest + suffix


def fetch_url(url: str, policy: GuardPolicy) -> Path:
    """Downloads an http(s) URL into ``policy.download_dir`` and returns the local file.

    Each hop connects to the address ``resolve_host`` checked: the request goes to the IP, with the
    original name in the Host header and as the TLS server name (httpx's ``sni_hostname``
    extension), so the certificate is still verified against the name and no second DNS lookup
    happens after the check. Redirects are followed by hand, at most three, each target checked the
    same way. Proxies from the environment are ignored (``trust_env=False``): a proxy would make
    the connection go somewhere the check never saw. The file is written under a temporary name and
    renamed when complete; over ``policy.max_download_bytes`` the partial file is deleted.
    """
    current = check_url(url, policy)
    download_dir = policy.download_dir or Path(tempfile.gettempdir()) / "prompt-studio-downloads"
    download_dir.mkdir(parents=True, exist_ok=True)
    target = download_dir / _download_name(str(current))
    timeout = httpx.Timeout(30.0, connect=5.0)
    with httpx.Client(trust_env=False, follow_redirects=False, timeout=timeout) as client:
        for _hop in range(MAX_REDIRECTS + 1):
            request = _pinned_request(client, current, policy)
            try:
                response = client.send(request, stream=True)
            except httpx.HTTPError as exc:
                raise ConnectorError(
                    "datasource_unreachable", f"cannot download from {current.host}: {type(exc).__name__}"
                ) from exc
            try:
                if response.is_redirect:
                    location = response.headers.get("location", "")
                    current = check_url(str(current.join(location)), policy)
                    continue
                if response.status_code in (404, 410):
                    raise ConnectorError("datasource_not_found", f"{current.host} has no file at {current.path}")
                if not response.is_success:
                    raise ConnectorError(
                        "datasource_unreachable", f"{current.host} answered HTTP {response.status_code}"
                    )
                _save_response(response, target, policy.max_download_bytes, host=current.host)
                return target
            finally:
                response.close()
    raise ConnectorError("datasource_unreachable", f"more than {MAX_REDIRECTS} redirects")


def _pinned_request(client: httpx.Client, url: httpx.URL, policy: GuardPolicy) -> httpx.Request:
    port = url.port or _DEFAULT_PORTS[url.scheme]
    address = resolve_host(url.host, port, policy)
    extensions = {}
    if url.scheme == "https" and not _is_ip_literal(url.host):
        extensions["sni_hostname"] = url.host
    host_header = url.netloc.decode("ascii").rsplit("@", 1)[-1]
    return client.build_request(
        "GET", url.copy_with(host=address), headers={"Host": host_header}, extensions=extensions
    )


def _save_response(response: httpx.Response, target: Path, limit: int, *, host: str) -> None:
    too_large = ConnectorError(
        "datasource_unreachable",
        f"the file at {host} is larger than the {limit} bytes this deployment downloads",
        details={"reason": "too_large", "limit_bytes": limit},
    )
    declared = response.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise too_large
    handle, partial_name = tempfile.mkstemp(dir=target.parent, prefix=".partial-")
    partial = Path(partial_name)
    try:
        written = 0
        with os.fdopen(handle, "wb") as out:
            for chunk in response.iter_bytes(_DOWNLOAD_CHUNK):
                written += len(chunk)
                if written > limit:
                    raise too_large
                out.write(chunk)
        os.replace(partial, target)
    except httpx.HTTPError as exc:
        raise ConnectorError(
            "datasource_unreachable", f"the download from {host} failed: {type(exc).__name__}"
        ) from exc
    finally:
        with contextlib.suppress(FileNotFoundError):
            partial.unlink()
