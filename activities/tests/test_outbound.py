"""Where syncs may go, tried as an attacker: internal addresses, redirects, Link headers, payload URLs, DNS tricks.

Each refused destination that can listen (another loopback address) is a stand-in recording every
hit; for those that cannot (10.x, 169.254.169.254, ::1…), every connection attempt is recorded.
Nothing may reach them, no token may leave its host, and every refusal ends as a failed run that
says why, never as an exception.
"""

import ipaddress
import socket
import ssl
from datetime import UTC, datetime, timedelta

import orjson
import pytest
import urllib3.util.connection
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from activities.connectors.http import HttpClient, SourceError
from activities.models import Activity, Source, SyncRun
from activities.outbound import address_problem
from activities.sync import source_sync

from .builders import github_repo
from .standin import FakeBugzilla, FakeGitHub, FakeKitsune, Recorder, Server, StandIn

pytestmark = pytest.mark.django_db

TOKEN = "ghp_outbound_secret_1234"
REAL_GETADDRINFO = socket.getaddrinfo


@pytest.fixture(autouse=True)
def _token(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_OUTBOUND", TOKEN)


@pytest.fixture
def refusing(settings):
    """Production's default: no host is an exception."""
    settings.BALOO_SOURCE_ALLOWED_HOSTS = []


@pytest.fixture
def connections(monkeypatch) -> list[tuple[str, int]]:
    """Every TCP connection a request opens, by address and port."""
    opened: list[tuple[str, int]] = []
    real = urllib3.util.connection.create_connection

    def recording(address, *args, **kwargs):
        opened.append((address[0], address[1]))
        return real(address, *args, **kwargs)

    monkeypatch.setattr(urllib3.util.connection, "create_connection", recording)
    return opened


def resolving(monkeypatch, names: dict[str, list[str]]) -> dict[str, int]:
    """Make host names resolve to the given addresses (a DNS the attacker controls); count the lookups."""
    lookups = {name: 0 for name in names}

    def fake(host, port, *args, **kwargs):
        if host in names:
            lookups[host] += 1
            return [
                (socket.AF_INET6 if ":" in address else socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port))
                for address in names[host]
            ]
        return REAL_GETADDRINFO(host, port, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)
    return lookups


@pytest.fixture
def github():
    api = FakeGitHub()
    github_repo(api, "example/app", issues=5, pulls=0, comments=3, commits=2)
    with Server(api) as url:
        api.url = url
        yield api


@pytest.fixture
def forbidden():
    """A listening host on another loopback address, which the test settings do not allow."""
    api = Recorder()
    with Server(api, host="127.0.0.2") as url:
        api.url = url
        yield api


def github_source(base_url: str, **fields) -> Source:
    # Written straight to the database, as a row set before the rules or behind the admin's back would be.
    return Source.objects.create(
        slug="github-example", kind="github", name="GitHub", base_url=base_url,
        token_env=fields.pop("token_env", "BALOO_TOKEN_OUTBOUND"), options={"repos": ["example/app"], "backoff_seconds": 0}, **fields,
    )


def all_headers(*apis: StandIn) -> str:
    return repr([headers for api in apis for _path, headers in api.requests])


# ---------------------------------------------------------------------------------------- where a source points


def test_a_source_aimed_at_loopback_reaches_nothing_unless_the_operator_allows_it(refusing, github, settings):
    source = github_source(github.url)

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert "127.0.0.1 is a loopback address" in run.error and "BALOO_SOURCE_ALLOWED_HOSTS" in run.error
    assert github.requests == [] and run.requests == 0
    assert not Activity.objects.exists()

    settings.BALOO_SOURCE_ALLOWED_HOSTS = ["127.0.0.1"]
    again = source_sync(source=source)
    assert again.status == SyncRun.Status.SUCCEEDED, again.error
    assert Activity.objects.count() == 10


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("http://10.1.2.3", "10.1.2.3 is a private address"),
        ("http://192.168.0.1:8080/api", "private address"),
        ("http://169.254.169.254/latest/meta-data/", "169.254.169.254 is a link-local address"),
        ("http://[::1]:8080", "::1 is a loopback address"),
        ("http://[::ffff:127.0.0.1]:8080", "wrapped form of 127.0.0.1, a loopback address"),
        ("http://[::ffff:169.254.169.254]", "wrapped form of 169.254.169.254"),
        ("http://[64:ff9b::a9fe:a9fe]", "wrapped form of 169.254.169.254"),
        ("http://[2002:a00:1::1]", "wrapped form of 10.0.0.1"),
        ("http://[fd00:ec2::254]", "private address"),
        ("http://[fe80::1]", "link-local address"),
        ("http://100.64.0.1", "shared (carrier-grade NAT) address"),
        ("http://0.0.0.0:8000", "unspecified address"),
        ("http://224.0.0.1", "multicast address"),
        ("http://240.0.0.1", "reserved address"),
        ("http://127.1:8000", "127.0.0.1 is a loopback address"),
        ("http://2130706433:8000", "127.0.0.1 is a loopback address"),
        ("http://0x7f.1:8000", "127.0.0.1 is a loopback address"),
    ],
)
def test_internal_addresses_are_refused_before_any_connection(base_url, reason, connections):
    # The test settings allow 127.0.0.1 and localhost as written: other spellings are not the listed host.
    run = source_sync(source=github_source(base_url))

    assert run.status == SyncRun.Status.FAILED
    assert reason in run.error and "refused" in run.error
    assert connections == []


@pytest.mark.parametrize(
    ("base_url", "reason"),
    [
        ("file:///etc/passwd", "only http and https"),
        ("gopher://127.0.0.1:6379/_INFO", "only http and https"),
        ("ftp://ftp.example.org/", "only http and https"),
        ("http://attacker:pw@127.0.0.1/", "user name or password"),
        ("http:///nohost", "names no host"),
    ],
)
def test_other_schemes_and_credentials_in_urls_are_refused(base_url, reason, connections):
    run = source_sync(source=github_source(base_url))

    assert run.status == SyncRun.Status.FAILED and reason in run.error
    assert connections == []


def test_a_name_resolving_to_loopback_is_refused(refusing, github, monkeypatch, connections):
    port = github.url.rsplit(":", 1)[1]
    resolving(monkeypatch, {"api.attacker.test": ["127.0.0.1"]})

    run = source_sync(source=github_source(f"http://api.attacker.test:{port}"))

    assert run.status == SyncRun.Status.FAILED
    assert "127.0.0.1 is a loopback address" in run.error
    assert github.requests == [] and connections == []


def test_every_address_a_name_resolves_to_is_checked(monkeypatch, connections):
    resolving(monkeypatch, {"mixed.attacker.test": ["93.184.215.14", "169.254.169.254"]})

    run = source_sync(source=github_source("https://mixed.attacker.test"))

    assert run.status == SyncRun.Status.FAILED and "169.254.169.254 is a link-local address" in run.error
    assert connections == []


# ---------------------------------------------------------------------------------------- where a sync is sent


def test_a_redirect_to_a_refused_address_is_not_followed(github, forbidden, connections):
    github.fail("/issues", status=302, headers={"Location": f"{forbidden.url}/latest/meta-data/"}, body=b"")

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED
    assert "127.0.0.2 is a loopback address" in run.error
    assert forbidden.requests == []
    assert {address for address, _port in connections} == {"127.0.0.1"}


def test_a_redirect_to_cloud_metadata_is_not_followed(github, connections):
    github.fail("/issues", status=307, headers={"Location": "http://169.254.169.254/latest/meta-data/iam/"}, body=b"")

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED and "169.254.169.254 is a link-local address" in run.error
    assert "169.254.169.254" not in {address for address, _port in connections}


def test_a_redirect_to_another_allowed_host_is_followed_without_the_token(github, settings, monkeypatch):
    mirror = FakeGitHub()
    github_repo(mirror, "example/app", issues=5, pulls=0, comments=3, commits=2)
    settings.BALOO_SOURCE_ALLOWED_HOSTS = ["127.0.0.1", "mirror.test"]
    resolving(monkeypatch, {"mirror.test": ["127.0.0.1"]})
    with Server(mirror) as mirror_url:
        port = mirror_url.rsplit(":", 1)[1]
        github.fail("/issues", status=301, headers={"Location": f"http://mirror.test:{port}/repos/example/app/issues?per_page=100"}, body=b"")

        run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert mirror.requests, "the redirect was followed"
    assert set(mirror.tokens_seen) == {""}
    assert set(github.tokens_seen) == {f"Bearer {TOKEN}"}
    assert TOKEN not in all_headers(mirror)


def test_a_bugzilla_key_never_follows_a_redirect_to_another_server():
    # requests drops Authorization on a redirect to another host, but not a custom header like Bugzilla's.
    origin, elsewhere = FakeBugzilla(), FakeBugzilla()
    with Server(origin) as origin_url, Server(elsewhere) as elsewhere_url:
        origin.fail("/rest/bug", status=302, headers={"Location": f"{elsewhere_url}/rest/bug?limit=100"}, body=b"")
        source = Source.objects.create(slug="bmo", kind="bugzilla", name="Bugzilla", base_url=origin_url,
                                       token_env="BALOO_TOKEN_OUTBOUND", options={"backoff_seconds": 0})

        run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert elsewhere.api_keys_seen and set(elsewhere.api_keys_seen) == {""}
    assert TOKEN not in all_headers(elsewhere)


def test_redirects_stop_after_a_few_hops(github):
    github.fail("/issues", status=302, headers={"Location": f"{github.url}/repos/example/app/issues?loop=1"}, body=b"", times=50)

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED and "more than 5 redirects" in run.error


def test_a_link_header_to_another_host_gets_no_token(github, settings, monkeypatch):
    other = FakeGitHub()
    github_repo(other, "example/app", issues=5, pulls=0, comments=0, commits=0)
    settings.BALOO_SOURCE_ALLOWED_HOSTS = ["127.0.0.1", "pages.test"]
    resolving(monkeypatch, {"pages.test": ["127.0.0.1"]})
    with Server(other) as other_url:
        port = other_url.rsplit(":", 1)[1]
        link = f'<http://pages.test:{port}/repos/example/app/issues?page=1&per_page=100>; rel="next"'
        github.fail("/issues", status=200, body=b"[]", headers={"Link": link})

        run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert other.requests and set(other.tokens_seen) == {""}


def test_a_link_header_to_a_refused_address_is_not_followed(github, forbidden):
    link = f'<{forbidden.url}/steal?page=2>; rel="next"'
    github.fail("/issues", status=200, body=b"[]", headers={"Link": link})

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED and "127.0.0.2 is a loopback address" in run.error
    assert forbidden.requests == []


def test_a_next_url_in_a_payload_is_checked_like_any_request(connections):
    sumo = FakeKitsune()
    page = {"count": 1, "next": "http://169.254.169.254/latest/meta-data/?page=2", "previous": None, "results": []}
    sumo.fail("/api/2/question/", status=200, body=orjson.dumps(page))
    with Server(sumo) as url:
        source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO", base_url=url, options={"backoff_seconds": 0})

        run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and "169.254.169.254 is a link-local address" in run.error
    assert "169.254.169.254" not in {address for address, _port in connections}


# ---------------------------------------------------------------------------------------- which secret is sent


@pytest.mark.parametrize("token_env", ["DJANGO_SECRET_KEY", "DATABASE_URL", "BALOO_TOKEN_OUTBOUND, DJANGO_SECRET_KEY", "baloo_token_x"])
def test_a_token_variable_outside_baloo_token_is_never_read(github, token_env, monkeypatch):
    monkeypatch.setenv("DJANGO_SECRET_KEY", "the-server-secret-key")
    monkeypatch.setenv("DATABASE_URL", "postgres://user:database-password@db/baloo")

    run = source_sync(source=github_source(github.url, token_env=token_env))

    assert run.status == SyncRun.Status.FAILED
    assert "BALOO_TOKEN_" in run.error and "refused" in run.error
    assert github.requests == [] and run.requests == 0
    assert "the-server-secret-key" not in all_headers(github) and "database-password" not in all_headers(github)


# ---------------------------------------------------------------------------------------- what comes back


def test_remote_error_messages_are_short_and_cleaned(github):
    said = "Bad credentials \x1b[2J\u202ereversed\r\nInjected: line " + "x" * 500
    github.fail("/issues", status=401, body=orjson.dumps({"message": said}))

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED
    assert "HTTP 401 Bad credentials" in run.error
    assert not any(char in run.error for char in "\x1b\u202e\r\n")
    assert "x" * 130 not in run.error


def test_a_raw_error_body_is_never_echoed(github):
    body = b"AccessKeyId: ASIAEXAMPLE\nSecretAccessKey: wJalrXUtnFEMIK7MDENGbPxRfiCYEXAMPLEKEY\n"
    github.fail("/issues", status=400, body=body)

    run = source_sync(source=github_source(github.url))

    assert run.status == SyncRun.Status.FAILED and "HTTP 400 Bad Request" in run.error
    assert "ASIAEXAMPLE" not in run.error and "wJalrXUtnFEMIK7MDENG" not in run.error


# ---------------------------------------------------------------------------------------- the checked address is the one used


def test_the_connection_goes_to_the_address_that_was_checked(github, settings, monkeypatch, connections):
    """DNS rebinding: a name that answers one address to the check and another to the connection."""
    port = github.url.rsplit(":", 1)[1]
    settings.BALOO_SOURCE_ALLOWED_HOSTS = ["127.0.0.1", "rebind.test"]
    answers = iter([["127.0.0.1"]])

    def fake(host, port_, *args, **kwargs):
        if host == "rebind.test":
            # The first answer is checked; any later one would send the connection to cloud metadata.
            address = next(answers, ["169.254.169.254"])[0]
            return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (address, port_))]
        return REAL_GETADDRINFO(host, port_, *args, **kwargs)

    monkeypatch.setattr(socket, "getaddrinfo", fake)

    run = source_sync(source=github_source(f"http://rebind.test:{port}"))

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert {address for address, _port in connections} == {"127.0.0.1"}
    # The server is still asked for the site by its name.
    assert {headers.get("host") for _path, headers in github.requests} == {f"rebind.test:{port}"}


def _certificate(tmp_path, name: str):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, name)])
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder().subject_name(subject).issuer_name(subject).public_key(key.public_key())
        .serial_number(x509.random_serial_number()).not_valid_before(now - timedelta(days=1)).not_valid_after(now + timedelta(days=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(name)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_file, key_file = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_file.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_file.write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()))
    return cert_file, key_file


def test_a_pinned_https_connection_still_verifies_the_certificate_of_the_name(tmp_path, settings, monkeypatch):
    cert_file, key_file = _certificate(tmp_path, "api.pinned.test")
    settings.BALOO_SOURCE_ALLOWED_HOSTS = ["api.pinned.test", "impostor.test"]
    resolving(monkeypatch, {"api.pinned.test": ["127.0.0.1"], "impostor.test": ["127.0.0.1"]})
    api = FakeGitHub()
    api.orgs["example"] = ["example/app"]
    server = Server(api)
    context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    context.load_cert_chain(cert_file, key_file)
    server.httpd.socket = context.wrap_socket(server.httpd.socket, server_side=True)
    port = server.url.rsplit(":", 1)[1]
    with server:
        client = HttpClient(base_url=f"https://api.pinned.test:{port}", max_retries=0)
        client.session.verify = str(cert_file)
        assert client.get("orgs/example/repos").data[0]["full_name"] == "example/app"

        impostor = HttpClient(base_url=f"https://impostor.test:{port}", max_retries=0)
        impostor.session.verify = str(cert_file)
        with pytest.raises(SourceError, match="no answer"):
            impostor.get("orgs/example/repos")
    assert len(api.requests) == 1


# ---------------------------------------------------------------------------------------- the address rule itself


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "127.8.9.10", "10.0.0.1", "172.16.5.4", "192.168.1.1", "169.254.169.254", "100.64.0.1", "0.0.0.0", "0.1.2.3",
     "224.0.0.251", "255.255.255.255", "198.18.0.1", "192.0.2.1", "::", "::1", "fe80::1", "fc00::1", "fd12:3456::1", "fec0::1",
     "ff02::1", "::ffff:10.0.0.1", "::ffff:127.0.0.1", "64:ff9b::7f00:1", "64:ff9b:1::1", "2002:7f00:1::1", "2001::1",
     "2001:db8::1", "::7f00:1"],
)
def test_internal_and_special_addresses_are_refused(address):
    assert address_problem(ipaddress.ip_address(address))


@pytest.mark.parametrize("address", ["8.8.8.8", "140.82.112.6", "2606:4700::1111", "2a04:4e42::223", "::ffff:8.8.8.8",
                                     "64:ff9b::808:808", "2002:808:808::1"])
def test_public_addresses_are_reached(address):
    assert address_problem(ipaddress.ip_address(address)) is None
