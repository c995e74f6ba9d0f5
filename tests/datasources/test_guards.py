"""The SSRF and path guards: what a data source may reach, decided before anything is opened."""

from __future__ import annotations

import hashlib
import http.server
import ipaddress
import threading
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from datasources.connectors.base import ConnectorError, GuardPolicy
from datasources.connectors.guards import confine_path, fetch_url, resolve_host

STRICT = GuardPolicy()
LENIENT = GuardPolicy(allow_private=True)


# --- hosts -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    "host",
    [
        "169.254.169.254",  # the cloud metadata address
        "metadata.google.internal",
        "METADATA.GOOGLE.INTERNAL.",
        "[::ffff:169.254.169.254]",  # the same, IPv4-mapped
        "::ffff:a9fe:a9fe",
        "64:ff9b::a9fe:a9fe",  # the same, through NAT64
        "0.0.0.0",  # noqa: S104
        "::",
        "100.100.100.200",  # Alibaba Cloud metadata
        "fd00:ec2::254",  # AWS metadata over IPv6
        "224.0.0.1",
        "255.255.255.255",
    ],
)
@pytest.mark.parametrize("policy", [STRICT, LENIENT], ids=["strict", "allow_private"])
def test_metadata_link_local_and_unspecified_addresses_are_always_refused(host: str, policy: GuardPolicy) -> None:
    with pytest.raises(ConnectorError) as caught:
        resolve_host(host, 5432, policy)
    assert caught.value.code == "datasource_forbidden_host"


@pytest.mark.parametrize(
    "host",
    [
        "localhost",
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.9",
        "192.168.1.1",
        "100.64.1.1",  # carrier-grade NAT
        "fc00::1",
        "[::1]",
        "::ffff:10.0.0.1",
        "2130706433",  # 127.0.0.1 in decimal
        "0x7f000001",  # ... in hex
        "017700000001",  # ... in octal
    ],
)
def test_private_and_loopback_addresses_need_allow_private(host: str) -> None:
    with pytest.raises(ConnectorError) as caught:
        resolve_host(host, 5432, STRICT)
    assert caught.value.code == "datasource_forbidden_host"

    address = resolve_host(host, 5432, LENIENT)

    expected = ["127.0.0.1", "::1", "10.1.2.3", "172.16.0.9", "192.168.1.1", "100.64.1.1", "fc00::1", "::ffff:10.0.0.1"]
    assert ipaddress.ip_address(address) in {ipaddress.ip_address(item) for item in expected}


def test_the_checked_address_is_returned_normalised() -> None:
    assert resolve_host("2130706433", 80, LENIENT) == "127.0.0.1"
    assert resolve_host("0x7f000001", 80, LENIENT) == "127.0.0.1"
    assert resolve_host("8.8.8.8", 5432, STRICT) == "8.8.8.8"


def test_the_deny_list_wins_over_allow_private_and_the_allow_list() -> None:
    by_network = GuardPolicy(allow_private=True, allow=("10.1.0.0/16",), deny=("10.0.0.0/8",))
    by_name = GuardPolicy(allow_private=True, deny=("localhost",))
    public = GuardPolicy(deny=("8.8.8.0/24",))

    for policy, host in [(by_network, "10.1.2.3"), (by_name, "localhost"), (public, "8.8.8.8")]:
        with pytest.raises(ConnectorError) as caught:
            resolve_host(host, 5432, policy)
        assert caught.value.code == "datasource_forbidden_host"


def test_the_allow_list_opens_private_ranges_but_never_metadata() -> None:
    policy = GuardPolicy(allow=("10.1.0.0/16", "localhost", "169.254.0.0/16"))

    assert resolve_host("10.1.2.3", 5432, policy) == "10.1.2.3"
    assert resolve_host("localhost", 5432, policy) in {"127.0.0.1", "::1"}
    for host in ["10.2.0.1", "127.0.0.1", "169.254.169.254"]:
        with pytest.raises(ConnectorError) as caught:
            resolve_host(host, 5432, policy)
        assert caught.value.code == "datasource_forbidden_host", host


def test_an_unknown_name_is_unreachable_and_a_malformed_one_invalid() -> None:
    with pytest.raises(ConnectorError) as unknown:
        resolve_host("no-such-host.invalid", 5432, LENIENT)
    with pytest.raises(ConnectorError) as malformed:
        resolve_host("db.example.com/evil", 5432, LENIENT)
    with pytest.raises(ConnectorError) as bad_port:
        resolve_host("127.0.0.1", 70000, LENIENT)

    assert unknown.value.code == "datasource_unreachable"
    assert "cannot resolve" in unknown.value.message
    assert malformed.value.code == "datasource_invalid_settings"
    assert bad_port.value.code == "datasource_invalid_settings"


# --- paths -------------------------------------------------------------------------------------


@pytest.fixture
def roots(tmp_path: Path) -> tuple[Path, Path, GuardPolicy]:
    root = tmp_path / "root"
    outside = tmp_path / "outside"
    (root / "data").mkdir(parents=True)
    outside.mkdir()
    (root / "data" / "sales.csv").write_text("a\n1\n")
    (outside / "secret.csv").write_text("password\nhunter2\n")
    return root, outside, GuardPolicy(file_roots=(root,))


def test_a_path_inside_a_root_is_returned_resolved(roots: tuple[Path, Path, GuardPolicy]) -> None:
    root, _outside, policy = roots

    assert confine_path(str(root / "data" / "sales.csv"), policy) == (root / "data" / "sales.csv").resolve()
    assert confine_path("data/sales.csv", policy) == (root / "data" / "sales.csv").resolve()
    assert confine_path(str(root / "data" / "not-yet.csv"), policy) == (root / "data" / "not-yet.csv").resolve()


def test_paths_outside_the_roots_are_refused(roots: tuple[Path, Path, GuardPolicy]) -> None:
    root, outside, policy = roots
    (root / "data" / "escape.csv").symlink_to(outside / "secret.csv")
    (root / "linked-folder").symlink_to(outside, target_is_directory=True)

    for path in [
        "/etc/passwd",
        str(outside / "secret.csv"),
        str(root / ".." / "outside" / "secret.csv"),
        "../outside/secret.csv",
        str(root / "data" / "escape.csv"),  # a symlink inside the root pointing outside
        str(root / "linked-folder" / "secret.csv"),
        str(root) + "-sibling/file.csv",  # a prefix of the root's name is not the root
    ]:
        with pytest.raises(ConnectorError) as caught:
            confine_path(path, policy)
        assert caught.value.code == "datasource_path_forbidden", path


def test_a_symlink_that_stays_inside_the_root_is_followed(roots: tuple[Path, Path, GuardPolicy]) -> None:
    root, _outside, policy = roots
    (root / "alias.csv").symlink_to(root / "data" / "sales.csv")

    assert confine_path(str(root / "alias.csv"), policy) == (root / "data" / "sales.csv").resolve()


def test_empty_and_nul_paths_are_invalid_and_no_roots_means_nothing_is_allowed(
    roots: tuple[Path, Path, GuardPolicy],
) -> None:
    root, _outside, policy = roots
    for path, code, used in [
        ("", "datasource_invalid_settings", policy),
        ("   ", "datasource_invalid_settings", policy),
        (str(root / "a\x00b"), "datasource_invalid_settings", policy),
        (str(root / "data" / "sales.csv"), "datasource_path_forbidden", GuardPolicy()),
    ]:
        with pytest.raises(ConnectorError) as caught:
            confine_path(path, used)
        assert caught.value.code == code


# --- URLs --------------------------------------------------------------------------------------


class _Handler(http.server.SimpleHTTPRequestHandler):
    """Serves a folder, plus redirects: /hop/N -> /hop/N-1 ... -> /orders.parquet, /to-metadata."""

    def do_GET(self) -> None:
        if self.path.startswith("/hop/"):
            remaining = int(self.path.rsplit("/", 1)[-1])
            self._redirect(f"/hop/{remaining - 1}" if remaining > 1 else "/orders.parquet")
        elif self.path == "/to-metadata":
            self._redirect("http://169.254.169.254/latest/meta-data/")
        else:
            super().do_GET()

    def _redirect(self, location: str) -> None:
        self.send_response(302)
        self.send_header("Location", location)
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:  # quiet test output
        pass


@pytest.fixture
def file_server(tmp_path: Path) -> Iterator[str]:
    served = tmp_path / "served"
    served.mkdir()
    pq.write_table(pa.table({"id": [1, 2, 3], "amount": [9.5, 10.0, 12.25]}), served / "orders.parquet")
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), partial(_Handler, directory=str(served)))
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


def test_fetch_url_downloads_into_the_download_dir_under_a_hashed_name(file_server: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads")
    url = f"{file_server}/orders.parquet"

    local = fetch_url(url, policy)

    assert local.parent == tmp_path / "downloads"
    assert local.name == hashlib.sha256(url.encode()).hexdigest()[:32] + ".parquet"
    assert pq.read_table(local).column("id").to_pylist() == [1, 2, 3]
    assert [path.name for path in local.parent.iterdir()] == [local.name]  # no partial files left


def test_fetch_url_refuses_a_private_server_unless_allowed(file_server: str, tmp_path: Path) -> None:
    with pytest.raises(ConnectorError) as caught:
        fetch_url(f"{file_server}/orders.parquet", GuardPolicy(download_dir=tmp_path / "downloads"))

    assert caught.value.code == "datasource_forbidden_host"
    assert not (tmp_path / "downloads").exists() or not any((tmp_path / "downloads").iterdir())


def test_fetch_url_follows_three_checked_redirects_and_no_more(file_server: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads")

    assert pq.read_table(fetch_url(f"{file_server}/hop/3", policy)).num_rows == 3
    with pytest.raises(ConnectorError) as too_many:
        fetch_url(f"{file_server}/hop/4", policy)
    with pytest.raises(ConnectorError) as to_metadata:
        fetch_url(f"{file_server}/to-metadata", policy)

    assert too_many.value.code == "datasource_unreachable"
    assert to_metadata.value.code == "datasource_forbidden_host"


def test_fetch_url_stops_at_the_size_limit_and_deletes_the_partial_file(file_server: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads", max_download_bytes=100)

    with pytest.raises(ConnectorError) as caught:
        fetch_url(f"{file_server}/orders.parquet", policy)

    assert caught.value.code == "datasource_unreachable"
    assert caught.value.details["reason"] == "too_large"
    assert list((tmp_path / "downloads").iterdir()) == []


def test_fetch_url_reports_missing_files_and_refuses_other_schemes(file_server: str, tmp_path: Path) -> None:
    policy = GuardPolicy(allow_private=True, download_dir=tmp_path / "downloads")

    with pytest.raises(ConnectorError) as missing:
        fetch_url(f"{file_server}/nothing-here.csv", policy)
    assert missing.value.code == "datasource_not_found"
    for url in ["file:///etc/passwd", "ftp://127.0.0.1/x.csv", "gopher://127.0.0.1/", "http:///no-host"]:
        with pytest.raises(ConnectorError) as caught:
            fetch_url(url, policy)
        assert caught.value.code == "datasource_invalid_settings", url
