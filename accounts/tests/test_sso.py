"""Single sign-on against a real OpenID Connect provider running in its own process (django-oauth-toolkit)."""

import time
from pathlib import Path
from urllib.parse import parse_qs, urlparse

import jwt
import pytest
import requests
from django.contrib.auth import get_user_model
from django.test import Client
from pytest_django.live_server_helper import LiveServer
from rest_framework.test import APIClient

from accounts import oidc
from accounts.models import AuthAudit
from accounts.roles import BUILDER, BUILDER_GROUP, CONTRIBUTOR, STAFF_GROUP
from accounts.services import user_roles_apply
from contributors.models import Identity, Person
from contributors.services import person_forget
from conversion_points.models import Area

from .conftest import PASSWORD, Browser

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


# --------------------------------------------------------------------------- a role removed at the provider


def _expire_session_check(browser) -> None:
    """Let the session check interval (OIDC_RENEW_ID_TOKEN_EXPIRY_SECONDS) pass."""
    session = browser.client.session
    session["oidc_id_token_expiration"] = time.time() - 1
    session.save()


def test_a_builder_removed_at_the_provider_loses_her_areas_through_the_api(sso, browser_for) -> None:
    browser = browser_for("bob")
    browser.sign_in("/admin/")
    bob = User.objects.get(email="bob@builders.test")
    support = Area.objects.create(slug="support", name="Support")
    support.owners.add(bob)
    api = browser.client
    assert [a["slug"] for a in api.get("/api/v1/staff/areas/", HTTP_ACCEPT="application/json").json()["results"]] == ["support"]
    assert api.get("/api/v1/staff/areas/support/contributors/", HTTP_ACCEPT="application/json").status_code == 200

    sso.set_groups("bob", [])
    _expire_session_check(browser)
    # A script on the session cookie cannot follow the provider's redirects: refused until renewed.
    refused = api.get("/api/v1/staff/areas/support/contributors/", HTTP_ACCEPT="application/json")
    assert refused.status_code == 401 and refused.json()["refresh_url"].startswith(sso.issuer)
    assert api.post("/api/v1/staff/dedup/", {}, HTTP_ACCEPT="application/json").status_code == 401
    # A browser is sent through the silent check, which re-reads her groups: no role, no area.
    page = api.get("/api/v1/staff/areas/", HTTP_ACCEPT="text/html")
    assert page.status_code == 302 and parse_qs(urlparse(page["Location"]).query)["prompt"] == ["none"]
    back = browser.back_to_baloo(browser.at_provider(page["Location"]))
    assert back.status_code == 302 and back["Location"] == "/api/v1/staff/areas/"
    bob.refresh_from_db()
    assert not bob.is_staff and support.owners.filter(pk=bob.pk).exists()  # still listed as owner…
    assert api.get("/api/v1/staff/areas/", HTTP_ACCEPT="application/json").json()["results"] == []  # …owning nothing
    assert api.get("/api/v1/staff/areas/support/contributors/", HTTP_ACCEPT="application/json").status_code == 404


def test_area_ownership_counts_only_with_the_builder_role(sso) -> None:
    area = Area.objects.create(slug="support", name="Support")
    user = User.objects.create_user("former-builder", "former@example.org")
    user_roles_apply(user=user, roles={CONTRIBUTOR})
    area.owners.add(user)
    client = APIClient()
    client.force_login(user)

    assert client.get("/api/v1/staff/areas/").json()["results"] == []
    assert client.get("/api/v1/staff/areas/support/contributors/").status_code == 404
    user_roles_apply(user=user, roles={BUILDER})
    assert [a["slug"] for a in client.get("/api/v1/staff/areas/").json()["results"]] == ["support"]


def test_staff_demoted_at_the_provider_lose_the_api_at_the_next_check(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    assert browser.client.get("/api/v1/staff/people/", HTTP_ACCEPT="application/json").status_code == 200

    sso.set_groups("ann", [])
    _expire_session_check(browser)

    assert browser.client.get("/api/v1/staff/people/", HTTP_ACCEPT="application/json").status_code == 401
    renew = browser.client.get("/api/v1/staff/people/", HTTP_ACCEPT="text/html")
    browser.back_to_baloo(browser.at_provider(renew["Location"]))
    assert browser.client.get("/api/v1/staff/people/", HTTP_ACCEPT="application/json").status_code == 403
    ann = User.objects.get(email__iexact="ann@example.org")
    assert not ann.is_staff and not ann.groups.exists()


def test_the_public_api_is_never_held_for_a_session_check(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    _expire_session_check(browser)

    assert browser.client.get("/api/v1/metrics/summary/", HTTP_ACCEPT="application/json").status_code not in (302, 401)


# --------------------------------------------------------------------------- the provider down


def test_sign_in_while_the_provider_is_down_says_so(sso, client: Client, caplog) -> None:
    sso.set_outage(True)

    response = client.get("/oidc/authenticate/", {"next": "/me/"})

    assert response.status_code == 503
    assert response.templates[0].name == "accounts/sign_in_problem.html"
    assert "could not reach the sign-in service" in response.content.decode()
    assert any("discovery document" in record.getMessage() for record in caplog.records)


def test_sign_in_with_the_provider_unreachable_says_so(sso, settings, client: Client) -> None:
    settings.OIDC_OP_ISSUER = "http://127.0.0.1:9/o"  # nothing listens there

    response = client.get("/oidc/authenticate/")

    assert response.status_code == 503 and b"sign-in service" in response.content


def test_signed_in_people_keep_public_pages_when_the_provider_is_down(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    _expire_session_check(browser)
    oidc._cache.clear()
    sso.set_outage(True)

    home = browser.client.get("/")
    admin_page = browser.client.get("/admin/contributors/person/")
    api = browser.client.get("/api/v1/staff/people/", HTTP_ACCEPT="application/json")

    assert home.status_code == 200
    # The session could not be checked, so it is not trusted: private pages ask to sign in.
    assert admin_page.status_code == 302 and admin_page["Location"].startswith("/admin/login/")
    assert api.status_code in (401, 403)
    sign_in = browser.client.get(browser.client.get(admin_page["Location"])["Location"])
    assert sign_in.status_code == 503
    # Once the provider answers again, the same session is checked and goes on.
    sso.set_outage(False)
    renew = browser.client.get("/admin/contributors/person/")
    assert renew.status_code == 302 and renew["Location"].startswith(sso.issuer)


def test_the_provider_going_down_during_the_callback_ends_on_a_page(sso, browser_for) -> None:
    browser = browser_for("ann")
    start = browser.client.get("/oidc/authenticate/")
    callback = browser.at_provider(start["Location"])
    sso.set_outage(True)

    response = browser.back_to_baloo(callback)

    assert response.status_code == 503 and "_auth_user_id" not in browser.client.session


def test_the_api_says_503_when_the_provider_cannot_check_an_access_token(sso, browser_for) -> None:
    settings_token = browser_for("ann")
    settings_token.sign_in()
    token = settings_token.client.session["oidc_access_token"]
    sso.set_outage(True)

    response = APIClient().get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Bearer {token}")

    assert response.status_code == 503 and "sign-in service" in response.json()["detail"]


# --------------------------------------------------------------------------- bad callbacks and id tokens


def test_a_replayed_callback_ends_on_a_page(sso, browser_for) -> None:
    browser = browser_for("ann")
    start = browser.client.get("/oidc/authenticate/")
    callback = browser.at_provider(start["Location"])
    assert browser.back_to_baloo(callback).status_code == 302

    again = browser.back_to_baloo(callback)

    assert again.status_code == 400 and "used already" in again.content.decode()


def test_a_code_the_provider_rejects_ends_on_a_page(sso, browser_for, caplog) -> None:
    browser = browser_for("ann")
    first = browser.at_provider(browser.client.get("/oidc/authenticate/")["Location"])
    browser.back_to_baloo(first)  # the code is spent
    second = browser.at_provider(browser.client.get("/oidc/authenticate/")["Location"])
    spent_code = parse_qs(urlparse(first).query)["code"][0]
    fresh_state = parse_qs(urlparse(second).query)["state"][0]

    response = browser.client.get("/oidc/callback/", {"code": spent_code, "state": fresh_state})

    assert response.status_code == 400 and "did not accept this sign-in" in response.content.decode()
    assert any("code-rejected" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize(
    ("tweaks", "reason_words"),
    [
        ({"exp_in": -120}, "too old"),  # expired beyond the leeway
        ({"clock_offset": 600}, "dated in the future"),  # the provider's clock far ahead
        ({"aud": "another-client"}, "not meant for Baloo"),
        ({"iss": "https://impostor.example/o"}, "not meant for Baloo"),
    ],
)
def test_an_id_token_baloo_cannot_trust_is_refused_on_a_page(sso, browser_for, caplog, tweaks: dict, reason_words: str) -> None:
    sso.misbehave(**tweaks)

    response = browser_for("ann").sign_in()

    assert response.status_code == 400 and reason_words in response.content.decode()
    assert not User.objects.exists()
    assert any("single sign-on failed" in record.getMessage() for record in caplog.records)


@pytest.mark.parametrize("tweaks", [{"clock_offset": 1}, {"exp_in": -30}, {"kid": False}])
def test_small_clock_differences_and_a_token_without_kid_sign_in(sso, browser_for, tweaks: dict) -> None:
    sso.misbehave(**tweaks)

    response = browser_for("ann").sign_in()

    assert response.status_code == 302 and response["Location"] == "/admin/"


def test_the_clock_leeway_is_a_setting(sso, settings, browser_for) -> None:
    settings.OIDC_CLOCK_LEEWAY_SECONDS = 0
    sso.misbehave(clock_offset=5)

    assert browser_for("ann").sign_in().status_code == 400


def test_the_provider_saying_no_ends_on_a_page(sso, client: Client) -> None:
    client.get("/oidc/authenticate/")
    state = next(iter(client.session["oidc_states"]))

    response = client.get("/oidc/callback/", {"error": "access_denied", "state": state})

    assert response.status_code == 401 and "access_denied" in response.content.decode()
    assert state not in client.session.get("oidc_states", {})


# --------------------------------------------------------------------------- refusals say why


@pytest.mark.parametrize(
    ("username", "words"),
    # Asked in French, answered in French.
    [("una", "n’est pas encore vérifiée auprès du service de connexion"), ("eve", "eve@elsewhere.test ne correspond à aucun de ces cas")],
)
def test_the_refusal_page_says_why(sso, browser_for, username: str, words: str) -> None:
    browser = browser_for(username)

    refused = browser.client.get(browser.sign_in()["Location"], HTTP_ACCEPT_LANGUAGE="fr")

    assert refused.status_code == 403 and words in refused.content.decode()
    assert b'<html lang="fr">' in refused.content  # the person's language, like every page
    # Said once: the reason is not kept for whoever uses the browser next.
    assert words not in browser.client.get("/oidc/refused/").content.decode()


def test_known_contributors_may_sign_in_as_contributors_when_allowed(sso, settings, browser_for) -> None:
    person = Person.objects.create(display_name="Eve")
    Identity.objects.create(person=person, kind="email", value="eve@elsewhere.test")

    assert browser_for("eve").sign_in()["Location"] == "/oidc/refused/"
    settings.OIDC_ALLOW_KNOWN_CONTRIBUTORS = True
    browser = browser_for("eve")
    response = browser.sign_in("/me/")

    assert response.status_code == 302 and response["Location"] == "/me/"
    eve = User.objects.get(email="eve@elsewhere.test")
    assert not eve.is_staff and not eve.is_superuser and not eve.groups.exists()
    assert browser.client.get("/me/").context["person"] == person


def test_a_forgotten_or_unverified_contributor_is_not_let_in(sso, settings, browser_for) -> None:
    settings.OIDC_ALLOW_KNOWN_CONTRIBUTORS = True
    settings.OIDC_REQUIRE_VERIFIED_EMAIL = False
    forgotten = Person.objects.create(display_name="Eve")
    Identity.objects.create(person=forgotten, kind="email", value="eve@elsewhere.test")
    person_forget(person=forgotten)
    known = Person.objects.create(display_name="Una")
    Identity.objects.create(person=known, kind="email", value="una@example.org")
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = []
    sso.set_groups("una", [])

    assert browser_for("eve").sign_in()["Location"] == "/oidc/refused/"
    assert browser_for("una").sign_in()["Location"] == "/oidc/refused/"
    assert not User.objects.exists()


# --------------------------------------------------------------------------- sign-out for everyone


def test_contributors_sign_out_with_a_confirmation_and_the_provider_session_ends(sso) -> None:
    browser = Browser(Client(enforce_csrf_checks=True), "carol")
    browser.sign_in("/")
    home = browser.client.get("/")
    assert b'href="/oidc/logout/"' in home.content

    confirm = browser.client.get("/oidc/logout/")
    forged = browser.client.post("/oidc/logout/")  # no CSRF token: another site's form

    assert confirm.status_code == 200 and b'<form method="post" action="/oidc/logout/">' in confirm.content
    assert forged.status_code == 403 and "_auth_user_id" in browser.client.session
    token = confirm.context["csrf_token"]
    response = browser.client.post("/oidc/logout/", {"csrfmiddlewaretoken": str(token)})
    assert response.status_code == 302 and response["Location"].startswith(f"{sso.issuer}/logout/")
    assert browser.at_provider(response["Location"]) == "http://testserver/"
    assert "_auth_user_id" not in browser.client.session
    assert b"You are signed out" in browser.client.get("/oidc/logout/").content


@pytest.mark.parametrize("host", ["evil.example", "testserver.evil.example"])
def test_sign_out_gives_the_provider_the_sites_address_not_the_host_a_request_names(
    sso, browser_for, settings, host: str
) -> None:
    """With a wildcard in DJANGO_ALLOWED_HOSTS, the provider's return address comes from BALOO_SITE_URL."""
    settings.ALLOWED_HOSTS = ["testserver", ".example"]
    settings.BALOO_SITE_URL = "http://testserver"
    browser = browser_for("ann")
    browser.sign_in("/")

    response = browser.client.post("/oidc/logout/", HTTP_HOST=host)

    assert response.status_code == 302 and response["Location"].startswith(f"{sso.issuer}/logout/")
    assert parse_qs(urlparse(response["Location"]).query)["post_logout_redirect_uri"] == ["http://testserver/"]
    assert browser.at_provider(response["Location"]) == "http://testserver/"


def test_sign_out_works_while_the_provider_is_down(sso, browser_for) -> None:
    browser = browser_for("carol")
    browser.sign_in("/")
    oidc._cache.clear()
    sso.set_outage(True)

    response = browser.client.post("/oidc/logout/")

    assert response.status_code == 302 and response["Location"] == "http://testserver/"
    assert "_auth_user_id" not in browser.client.session


def test_the_admins_log_out_link_asks_instead_of_answering_405(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()

    assert browser.client.get("/admin/logout/").status_code == 200
    assert "_auth_user_id" in browser.client.session


# --------------------------------------------------------------------------- rate limits


def test_single_sign_on_is_not_limited_like_password_guesses(sso, settings, browser_for) -> None:
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "login": "2/m"}

    responses = [browser_for(name).sign_in() for name in ("ann", "bob", "root", "carol")]

    assert all(r.status_code == 302 and r["Location"] != "/oidc/refused/" for r in responses)


def test_a_throttled_password_form_answers_a_page(settings, client: Client) -> None:
    settings.BALOO_RATE_LIMITS = {**settings.BALOO_RATE_LIMITS, "login": "1/m"}
    settings.BALOO_PASSWORD_LOGIN = True
    client.post("/admin/login/", {"username": "admin", "password": "guess"})

    response = client.post("/admin/login/", {"username": "admin", "password": "guess again"})

    assert response.status_code == 429 and response["Content-Type"].startswith("text/html")
    assert int(response["Retry-After"]) > 0 and b"Too many sign-in attempts" in response.content


def test_a_session_refused_at_its_check_ends(sso, browser_for) -> None:
    browser = browser_for("ann")
    browser.sign_in()
    for user in sso.config["users"]:
        if user["username"] == "ann":
            user["email_verified"] = False
    sso.save()
    _expire_session_check(browser)

    renew = browser.client.get("/admin/contributors/person/")
    back = browser.back_to_baloo(browser.at_provider(renew["Location"]))

    assert back["Location"] == "/oidc/refused/" and "_auth_user_id" not in browser.client.session
    assert "is not verified" in browser.client.get("/oidc/refused/").content.decode()


# --------------------------------------------------------------------------- in a real browser

CHROMIUM = Path("/usr/bin/chromium")


@pytest.fixture
def sso_site(sso, transactional_db, settings, monkeypatch):
    """Baloo on a live server of its own (plain HTTP, 127.0.0.1), its middleware built for the provider."""
    settings.SECURE_SSL_REDIRECT = False
    settings.SESSION_COOKIE_SECURE = settings.CSRF_COOKIE_SECURE = False
    settings.ALLOWED_HOSTS = ["127.0.0.1"]
    # As in production, where OIDC_OP_ISSUER is set when the settings are read: forms may lead to the provider.
    directives = settings.CONTENT_SECURITY_POLICY["DIRECTIVES"]
    settings.CONTENT_SECURITY_POLICY = {"DIRECTIVES": {**directives, "form-action": ["'self'", sso.issuer.rsplit("/", 1)[0]]}}
    # Playwright's sync API runs an event loop in this thread; the database is used before and after it only.
    monkeypatch.setenv("DJANGO_ALLOW_ASYNC_UNSAFE", "true")
    server = LiveServer("127.0.0.1")
    yield server.url
    server.stop()


@pytest.mark.skipif(not CHROMIUM.exists(), reason="headless Chromium not installed: apt-get install -y chromium")
def test_in_a_browser_a_contributor_signs_in_and_out(sso_site) -> None:
    sync_api = pytest.importorskip("playwright.sync_api", reason="Playwright is in requirements-dev.txt")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=["--no-sandbox", "--disable-gpu"])
        page = chromium.new_page()
        problems: list[str] = []
        page.on("console", lambda message: "Content Security Policy" in message.text and problems.append(message.text))

        page.goto(f"{sso_site}/me/")
        page.click("a.button")  # "Sign in" on the invitation
        page.fill("input[name=username]", "carol")
        page.fill("input[name=password]", PASSWORD)
        page.click("button[type=submit]")
        page.wait_for_url(f"{sso_site}/me/")
        page.click("a.sign-out")
        page.wait_for_url(f"{sso_site}/oidc/logout/")
        page.click("#sign-out")  # a form posted to Baloo, which sends the browser on to the provider
        page.wait_for_url(f"{sso_site}/")
        signed_out = page.locator("a.sign-out").count() == 0
        page.goto(f"{sso_site}/me/")
        invitation = page.locator("a.button").count()
        chromium.close()

    assert signed_out and invitation == 1
    assert not problems, problems  # no Content Security Policy violation on the way


def test_a_personal_token_keeps_no_rights_the_provider_took_away(sso, browser_for, settings) -> None:
    """Staff demoted at the provider who never sign in again: their API token stops acting for them
    once their roles are older than BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS; signed in again, it acts with
    the roles the provider gives now."""
    from datetime import timedelta

    from django.utils import timezone

    from accounts.services import api_token_create

    browser = browser_for("ann")
    browser.sign_in()
    ann = get_user_model().objects.get(email__iexact="ann@example.org")
    _token, secret = api_token_create(user=ann, name="nightly export")
    api = APIClient()
    assert api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 200

    sso.set_groups("ann", [])
    get_user_model().objects.filter(pk=ann.pk).update(
        last_login=timezone.now() - timedelta(days=settings.BALOO_API_TOKEN_ROLES_MAX_AGE_DAYS + 1)
    )
    stale = api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Token {secret}")
    assert stale.status_code == 401 and "sign in to Baloo once" in stale.json()["detail"]

    browser_for("ann").sign_in()
    assert api.get("/api/v1/staff/people/", HTTP_AUTHORIZATION=f"Token {secret}").status_code == 403
