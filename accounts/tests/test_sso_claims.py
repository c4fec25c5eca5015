"""Single sign-on with whatever the provider's claims hold: an address Baloo cannot use ends on the
refusal page, recorded for the operators, never on a 500; an address is never taken for another
that only case folding makes it equal to."""

import pytest
from django.contrib.auth import get_user_model

from accounts.models import AuthAudit
from activities.tests.factories import SourceFactory
from community.tests.factories import ingest, record

pytestmark = pytest.mark.django_db

User = get_user_model()

# A valid shape, longer than the user's e-mail column (254 characters).
LONG_EMAIL = "a" * 64 + "@" + ("b" * 60 + ".") * 3 + "example.org"


def provider_claims(sso, username: str, **claims: object) -> None:
    """What the provider will say about `username` from now on."""
    for user in sso.config["users"]:
        if user["username"] == username:
            user.update(claims)
    sso.save()


@pytest.mark.parametrize(
    "email",
    [
        ["ann@example.org"],
        {"address": "ann@example.org"},
        12345,
        True,
        False,
        LONG_EMAIL,
        "ann\x00@example.org",
        "ann\n@example.org",
        "ann @example.org",
        "@example.org",
    ],
)
def test_an_email_claim_baloo_cannot_use_is_refused_on_a_page(sso, browser_for, caplog, email: object) -> None:
    provider_claims(sso, "ann", email=email)
    browser = browser_for("ann")

    response = browser.sign_in()

    assert response.status_code == 302 and response["Location"] == "/oidc/refused/"
    assert not User.objects.exists() and "_auth_user_id" not in browser.client.session
    refused = browser.client.get("/oidc/refused/")
    assert refused.status_code == 403
    assert "sent Baloo an e-mail address it cannot use" in refused.content.decode()
    audit = AuthAudit.objects.get(action="login-refused")
    assert "\x00" not in audit.email and len(audit.email) <= 320
    assert any("single sign-on refused" in line.getMessage() and "e-mail" in line.getMessage() for line in caplog.records)


@pytest.mark.parametrize(("name", "stored"), [("Ann\x00Staff\x07", "AnnStaff"), ("Ann\x00" + "x" * 5000, "Ann" + "x" * 147)])
def test_names_lose_control_characters_and_are_cut_to_fit(sso, browser_for, name: str, stored: str) -> None:
    provider_claims(sso, "ann", name=name)

    assert browser_for("ann").sign_in()["Location"] == "/admin/"

    assert User.objects.get(email__iexact="ann@example.org").first_name == stored


def test_a_name_of_control_characters_only_leaves_the_name_as_it_was(sso, browser_for) -> None:
    browser_for("ann").sign_in()
    provider_claims(sso, "ann", name="\x00\x01")

    assert browser_for("ann").sign_in()["Location"] == "/admin/"

    assert User.objects.get(email__iexact="ann@example.org").first_name == "Ann Staff"


# --------------------------------------------------------------------------- ß is not ss


@pytest.fixture
def anna() -> None:
    """Anna Gross contributes as anna.gross@strasse.example; straße.example is another domain
    (IDNA2008: xn--strae-oqa.example), whoever registers it."""
    SourceFactory(slug="github", kind="github", name="GitHub")
    ingest(
        record("github", {"email": "anna.gross@strasse.example", "name": "Anna Gross"}, "github.commit.authored",
               external_id="commit:private", title="Anna's private fix")
    )


def test_a_sharp_s_domain_is_not_a_known_contributors_domain(sso, settings, browser_for, anna) -> None:
    settings.OIDC_ALLOW_KNOWN_CONTRIBUTORS = True
    provider_claims(sso, "carol", email="anna.gross@straße.example")
    browser = browser_for("carol")

    response = browser.sign_in("/me/")

    assert response["Location"] == "/oidc/refused/"
    assert not User.objects.exists()
    assert "Anna&#x27;s private fix" not in browser.client.get("/me/").content.decode()


def test_the_known_contributor_herself_signs_in_whatever_her_capitals(sso, settings, browser_for, anna) -> None:
    settings.OIDC_ALLOW_KNOWN_CONTRIBUTORS = True
    provider_claims(sso, "carol", email="Anna.Gross@STRASSE.example")
    browser = browser_for("carol")

    assert browser.sign_in("/me/")["Location"] == "/me/"

    assert "Anna&#x27;s private fix" in browser.client.get("/me/").content.decode()


def test_a_sharp_s_domain_is_not_an_allowed_domain(sso, settings, browser_for) -> None:
    settings.OIDC_ALLOWED_EMAIL_DOMAINS = ["strasse.example"]
    provider_claims(sso, "carol", email="carol@straße.example")
    provider_claims(sso, "eve", email="eve@Strasse.Example")

    assert browser_for("carol").sign_in()["Location"] == "/oidc/refused/"
    assert browser_for("eve").sign_in()["Location"] != "/oidc/refused/"
    assert list(User.objects.values_list("email", flat=True)) == ["eve@strasse.example"]
