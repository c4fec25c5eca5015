"""Fixtures for the sign-in tests: a real OpenID Connect provider in its own process, and Baloo set up for it."""

import json
import os
import re
import subprocess
import sys
import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import parse_qs, urljoin, urlparse

import pytest
import requests
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import rsa
from django.test import Client

from accounts import oidc

PROVIDER = Path(__file__).resolve().parent / "oidc_provider" / "serve.py"
CLIENT_ID = "baloo-test"
CLIENT_SECRET = "baloo-test-secret-" + "x" * 20
PASSWORD = "correct horse battery staple"
# The provider's log, shown when it answers with an error.
PROVIDER_OUTPUT: list[str] = []
USERS = [
    {"username": "ann", "email": "Ann@Example.org", "name": "Ann Staff", "groups": ["baloo-staff"]},
    {"username": "bob", "email": "bob@builders.test", "name": "Bob Builder", "groups": ["community-builders"]},
    {"username": "root", "email": "root@example.org", "name": "Rita Admin", "groups": ["baloo-admins", "baloo-staff"]},
    {"username": "carol", "email": "carol@example.org", "name": "Carol Contributor", "groups": []},
    {"username": "eve", "email": "eve@elsewhere.test", "name": "Eve Outsider", "groups": ["unrelated"]},
    {"username": "una", "email": "una@example.org", "name": "Una Unverified", "groups": ["baloo-staff"], "email_verified": False},
]


@dataclass
class Provider:
    issuer: str
    config_path: Path
    config: dict
    output: list[str]

    def set_groups(self, username: str, groups: list[str]) -> None:
        """Change a person's groups at the provider (read on every request)."""
        for user in self.config["users"]:
            if user["username"] == username:
                user["groups"] = groups
        self.save()

    def misbehave(self, **id_token: object) -> None:
        """Make the provider's id tokens wrong: aud=…, iss=…, kid=False, clock_offset=s, exp_in=s (see provider_validators)."""
        self.config["id_token"] = id_token
        self.save()

    def set_outage(self, down: bool) -> None:
        """Make the provider answer 503 to everything (discovery, token, userinfo, keys), or answer again."""
        self.config["outage"] = down
        self.save()

    def save(self) -> None:
        self.config_path.write_text(json.dumps(self.config))


@pytest.fixture(scope="session")
def oidc_provider(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Provider]:
    folder = tmp_path_factory.mktemp("oidc-provider")
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    key_file = folder / "key.pem"
    key_file.write_bytes(
        key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption())
    )
    config = {
        "client_id": CLIENT_ID,
        "client_secret": CLIENT_SECRET,
        # The test client's host, and a live server on the loopback address (any port, RFC 8252).
        "redirect_uris": ["http://testserver/oidc/callback/", "http://127.0.0.1/oidc/callback/"],
        "post_logout_redirect_uris": ["http://testserver/", "http://127.0.0.1/"],
        "key_file": str(key_file),
        "users": [{**user, "password": PASSWORD} for user in USERS],
    }
    config_path = folder / "provider.json"
    config_path.write_text(json.dumps(config))
    env = {k: v for k, v in os.environ.items() if not k.startswith(("DJANGO_", "DATABASE_URL"))}
    process = subprocess.Popen(
        [sys.executable, str(PROVIDER), str(config_path)], stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, env=env
    )
    port: list[int] = []
    output = PROVIDER_OUTPUT

    def read() -> None:
        assert process.stdout is not None
        for line in process.stdout:
            output.append(line)
            if line.startswith("PORT ") and not port:
                port.append(int(line.split()[1]))

    reader = threading.Thread(target=read, daemon=True)
    reader.start()
    try:
        for _ in range(600):
            if port or process.poll() is not None:
                break
            threading.Event().wait(0.1)
        if not port:
            pytest.fail("The test OpenID Connect provider did not start:\n" + "".join(output))
        yield Provider(issuer=f"http://127.0.0.1:{port[0]}/o", config_path=config_path, config=config, output=output)
    finally:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()


@pytest.fixture
def sso(settings, oidc_provider: Provider) -> Iterator[Provider]:
    """Baloo configured for the provider as production would be: single sign-on, no password sign-in."""
    settings.OIDC_RP_CLIENT_ID = CLIENT_ID
    settings.OIDC_RP_CLIENT_SECRET = CLIENT_SECRET
    settings.OIDC_OP_ISSUER = oidc_provider.issuer
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["example.org"]
    settings.OIDC_STORE_ACCESS_TOKEN = True
    settings.BALOO_PASSWORD_LOGIN = False
    oidc._cache.clear()
    oidc_provider.config.update(id_token={}, outage=False, users=[{**user, "password": PASSWORD} for user in USERS])
    oidc_provider.save()
    yield oidc_provider
    oidc_provider.config["id_token"] = {}
    oidc_provider.config["outage"] = False
    oidc_provider.save()
    oidc._cache.clear()


class Browser:
    """A person's browser: Baloo through Django's test client, the provider over real HTTP."""

    def __init__(self, client: Client, username: str) -> None:
        self.client = client
        self.username = username
        self.http = requests.Session()
        self.authorize_urls: list[str] = []

    def at_provider(self, url: str) -> str:
        """Follow the provider's redirects (signing in when asked) until it sends the browser back to Baloo."""
        for _ in range(10):
            if url.startswith("http://testserver"):
                return url
            if "/o/authorize/" in url:
                self.authorize_urls.append(url)
            response = self.http.get(url, allow_redirects=False, timeout=10)
            if response.status_code == 200 and "csrfmiddlewaretoken" in response.text:
                token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', response.text)[1]
                next_url = parse_qs(urlparse(url).query).get("next", [""])[0]
                response = self.http.post(
                    url,
                    data={"csrfmiddlewaretoken": token, "username": self.username, "password": PASSWORD, "next": next_url},
                    headers={"Referer": url},
                    allow_redirects=False,
                    timeout=10,
                )
            assert response.status_code in (301, 302), (response.status_code, response.text[:300], "".join(PROVIDER_OUTPUT[-40:]))
            url = urljoin(url, response.headers["Location"])
        raise AssertionError("too many redirects at the provider")

    def back_to_baloo(self, url: str):
        parsed = urlparse(url)
        return self.client.get(parsed.path, parse_qs(parsed.query))

    def sign_in(self, next_url: str = "/admin/"):
        """The whole authorization-code flow; returns Baloo's answer to the provider's callback."""
        start = self.client.get("/oidc/authenticate/", {"next": next_url})
        assert start.status_code == 302, start
        return self.back_to_baloo(self.at_provider(start["Location"]))


@pytest.fixture
def browser_for(client: Client):
    def make(username: str) -> Browser:
        return Browser(Client(), username)

    return make
