"""Single sign-on against a real OpenID Connect provider running in its own process (django-oauth-toolkit)."""

import time
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from rest_framework.test import APIClient

from accounts.models import AuthAudit
from accounts.roles import BUILDER_GROUP, STAFF_GROUP

pytestmark = pytest.mark.django_db

User = get_user_model()


def test_discovery_code_flow_rs256_and_staff_role(sso, browser_for) -> None:
    browser = browser_for("ann")

    response = browser.sign_in("/admin/")

    assert response.status_code == 302 and response["Location"] == "/admin/"
    authorize = parse_qs(urlparse(browser.authorize_urls[0]).query)
    assert authorize["response_type"] == ["code"] and authorize["client_id"] == ["baloo-test"]
    assert authorize["state"][0] and authorize["nonce"][0] and authorize["code_challenge_method"] == ["S256"]
    # Matched and created by e-mail; staff by the group claim.
    user = User.objects.get(email__iexact="ann@example.org")
    assert user.is_staff and not user.is_superuser and not user.has_usable_password()
    assert list(user.groups.values_list("name", flat=True)) == [STAFF_GROUP]
    # The id token is RS256-signed with a key the provider publishes (JWKS), and carries our nonce.
    id_token = browser.client.session["oidc_id_token"]
    assert jwt.get_unverified_header(id_token)["alg"] == "RS256"
    jwks = requests.get(requests.get(f"{sso.issuer}/.well-known/openid-configuration", timeout=5).json()["jwks_uri"], timeout=5).json()
    key = jwt.PyJWK(next(k for k in jwks["keys"] if k["kid"] == jwt.get_unverified_header(id_token)["kid"]))
    claims = jwt.decode(id_token, key, algorithms=["RS256"], audience="baloo-test")
    assert claims["nonce"] == authorize["nonce"][0]
    assert browser.client.get("/admin/contributors/person/").status_code == 200
    assert AuthAudit.objects.filter(action="login", user=user, details__method="sso").exists()
    assert AuthAudit.objects.filter(action="role-change", user=user).exists()


def test_second_sign_in_matches_the_same_user_case_insensitively(sso, browser_for) -> None:
    existing = User.objects.create_user("ann-local", email="ANN@example.ORG")

    browser_for("ann").sign_in()

    assert User.objects.filter(email__iexact="ann@example.org").count() == 1
    existing.refresh_from_db()
    assert existing.is_staff


def test_group_claims_map_to_roles_on_every_sign_in(sso, browser_for) -> None:
    browser_for("root").sign_in()
    browser_for("bob").sign_in()
    root = User.objects.get(email="root@example.org")
    bob = User.objects.get(email="bob@builders.test")
    assert root.is_superuser and root.is_staff
    assert bob.is_staff and not bob.is_superuser and list(bob.groups.values_list("name", flat=True)) == [BUILDER_GROUP]

    sso.set_groups("bob", ["baloo-staff"])
    sso.set_groups("root", [])
    browser_for("bob").sign_in()
    browser_for("root").sign_in()

    bob.refresh_from_db()
    root.refresh_from_db()
    assert list(bob.groups.values_list("name", flat=True)) == [STAFF_GROUP]
    assert not root.is_superuser and not root.is_staff
    change = AuthAudit.objects.filter(action="role-change", user=bob).first()
    assert change.details["before"] == ["builder"] and change.details["after"] == ["staff"]


@pytest.mark.parametrize("username", ["eve", "una"])
def test_a_person_not_allowed_in_is_refused(sso, browser_for, username: str) -> None:
    browser = browser_for(username)

    response = browser.sign_in()

    assert response.status_code == 302 and response["Location"] == "/oidc/refused/"
    assert not User.objects.exists()
    assert "_auth_user_id" not in browser.client.session
    assert AuthAudit.objects.filter(action="login-refused").count() == 1
    assert browser.client.get("/oidc/refused/").status_code == 403


def test_allowed_domain_makes_a_contributor_without_admin(sso, browser_for) -> None:
    browser = browser_for("carol")

    browser.sign_in("/")

    carol = User.objects.get(email="carol@example.org")
    assert not carol.is_staff and not carol.groups.exists()
    # No loop through the provider: signing in again would give the same roles.
    response = browser.client.get("/admin/login/", {"next": "/admin/"})
    assert response.status_code == 403


def test_state_must_match(sso, browser_for) -> None:
    browser = browser_for("ann")
    start = browser.client.get("/oidc/authenticate/")
    callback = urlparse(browser.at_provider(start["Location"]))
    query = parse_qs(callback.query)

    response = browser.client.get(callback.path, {"code": query["code"], "state": "forged"})

    assert response.status_code == 400
    assert "_auth_user_id" not in browser.client.session


def test_nonce_must_match(sso, browser_for) -> None:
    browser = browser_for("ann")
    start = browser.client.get("/oidc/authenticate/")
    callback = browser.at_provider(start["Location"])
    session = browser.client.session
    state = parse_qs(urlparse(callback).query)["state"][0]
    session["oidc_states"][state]["nonce"] = "not-the-nonce-sent"
    session.save()

    response = browser.back_to_baloo(callback)

    assert response.status_code == 400
    assert not User.objects.exists()


def test_expired_id_token_is_renewed_silently(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    session = browser.client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()

    response = browser.client.get("/admin/contributors/person/")

    assert response.status_code == 302
    refresh = parse_qs(urlparse(response["Location"]).query)
    assert response["Location"].startswith(sso.issuer) and refresh["prompt"] == ["none"]
    # The provider still knows the person: it answers at once, no password asked.
    back = browser.back_to_baloo(browser.at_provider(response["Location"]))
    assert back.status_code == 302 and back["Location"] == "/admin/contributors/person/"
    assert browser.client.session["oidc_id_token_expiration"] > time.time()
    assert browser.client.get("/admin/contributors/person/").status_code == 200


def test_logout_ends_both_sessions(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    id_token = browser.client.session["oidc_id_token"]

    response = browser.client.post("/admin/logout/")

    assert response.status_code == 302
    end_session = urlparse(response["Location"])
    assert response["Location"].startswith(f"{sso.issuer}/logout/")
    assert parse_qs(end_session.query)["id_token_hint"] == [id_token]
    assert browser.at_provider(response["Location"]) == "http://testserver/"
    assert AuthAudit.objects.filter(action="logout").count() == 1
    # Both sessions are gone: the admin asks to sign in, and the provider asks for the password again.
    assert browser.client.get("/admin/").status_code == 302
    again = browser.http.get(f"{sso.issuer}/authorize/", allow_redirects=False, timeout=5)
    assert again.status_code == 302 and again.headers["Location"].startswith("/accounts/login/")


def test_admin_login_sends_people_to_sso_and_refuses_passwords(sso, client: Client) -> None:
    User.objects.create_superuser("admin", "admin@localhost", "admin")

    to_login = client.get("/admin/")
    to_sso = client.get(to_login["Location"])
    password = client.post("/admin/login/", {"username": "admin", "password": "admin", "next": "/admin/"})

    assert to_login["Location"] == "/admin/login/?next=/admin/"
    assert to_sso.status_code == 302 and to_sso["Location"] == "/oidc/authenticate/?next=%2Fadmin%2F"
    assert password.status_code == 302 and password["Location"].startswith("/oidc/authenticate/")
    assert "_auth_user_id" not in client.session


def test_api_accepts_the_providers_access_token(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    access_token = browser.client.session["oidc_access_token"]
    api = APIClient()

    ok = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Bearer {access_token}")
    forged = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION="Bearer not-a-token")
    anonymous = api.get("/api/v1/staff/people/")

    assert ok.status_code == 200, ok.content
    assert forged.status_code == 401 and anonymous.status_code == 401
    assert anonymous["WWW-Authenticate"].startswith("Bearer")


def test_without_a_provider_sso_is_off_and_development_keeps_passwords(settings, client: Client) -> None:
    settings.BALOO_PASSWORD_LOGIN = True
    User.objects.create_superuser("admin", "admin@localhost", "admin")

    assert client.get("/oidc/authenticate/").status_code == 404
    page = client.get("/admin/login/")
    assert page.status_code == 200 and b'id="sso-login"' not in page.content
    response = client.post("/admin/login/", {"username": "admin", "password": "admin", "next": "/admin/"})
    assert response.status_code == 302 and client.get("/admin/").status_code == 200
    assert AuthAudit.objects.filter(action="login", details__method="password").exists()

    settings.BALOO_PASSWORD_LOGIN = False
    assert Client().get("/admin/login/").status_code == 503
