"""Someone trying Baloo can see "my contributions": in development (DEBUG, no single sign-on) the demo
gives one volunteer a password login and prints it, and the sign-in page lets that contributor in.
Never in production, never beside single sign-on."""

from io import StringIO

import pytest
from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.test import RequestFactory
from django.urls import reverse

from activities.tests.factories import SourceFactory
from baloo_site.security import rate_scope
from community.tests.factories import ingest, record
from contributors.models import Identity
from contributors.views import sign_in_url
from conversion_points.tests.factories import AreaFactory, ConversionPointFactory
from demo.services import CONTRIBUTOR_PASSWORD, CONTRIBUTOR_USERNAME, demo_contributor_login

pytestmark = pytest.mark.django_db

PEOPLE = 120


@pytest.fixture
def development(settings):
    settings.DEBUG = True
    settings.BALOO_PASSWORD_LOGIN = True
    settings.OIDC_RP_CLIENT_ID = ""
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


@pytest.fixture
def production(settings):
    settings.DEBUG = False
    settings.BALOO_PASSWORD_LOGIN = False
    settings.SECURE_SSL_REDIRECT = False


@pytest.fixture
def sso_configured(development, settings):
    settings.OIDC_RP_CLIENT_ID = "baloo"
    settings.OIDC_OP_ISSUER = "https://sso.example.org"


@pytest.fixture
def ann():
    sumo = SourceFactory(slug="sumo", kind="sumo", name="Support forum")
    ConversionPointFactory(slug="answer", area=AreaFactory(slug="support", name="Support"), source=sumo, types=["sumo.answer.posted"])
    ingest(
        record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", "2026-01-05T10:00:00Z"),
        record("sumo", {"email": "ann@example.org"}, "sumo.answer.posted", "2026-01-06T10:00:00Z"),
        record("sumo", {"email": "bob@example.org"}, "sumo.answer.posted", "2026-01-07T10:00:00Z"),
    )


def test_seeding_in_development_prints_a_contributor_login_that_opens_their_record(development, client):
    output = StringIO()
    call_command("seed_demo", people=PEOPLE, stdout=output)
    assert f"user '{CONTRIBUTOR_USERNAME}', password '{CONTRIBUTOR_PASSWORD}'" in output.getvalue()
    user = get_user_model().objects.get(username=CONTRIBUTOR_USERNAME)
    assert not user.is_staff and not user.is_superuser
    person = Identity.objects.get(kind="email", value=user.email).person
    assert not person.staff_periods.exists() and not person.is_bot

    # "My contributions" asks to sign in on Baloo's own page, which lets the contributor in.
    page = client.get(reverse("contributors:my-contributions"))
    assert page.context["sign_in_url"] == f"{reverse('sign_in')}?next=%2Fme%2F"
    form = client.get(page.context["sign_in_url"])
    assert form.status_code == 200 and 'name="next" value="/me/"' in form.content.decode()
    signed_in = client.post(
        reverse("sign_in"), {"username": CONTRIBUTOR_USERNAME, "password": CONTRIBUTOR_PASSWORD, "next": "/me/"}
    )
    assert signed_in.status_code == 302 and signed_in["Location"] == "/me/"
    mine = client.get("/me/")
    assert mine.context["person"] == person


def test_the_login_belongs_to_the_busiest_volunteer_and_is_made_once(development, ann):
    login = demo_contributor_login()
    assert login.email == "ann@example.org"
    assert demo_contributor_login() is None  # already there: its password is left alone


def test_production_seeds_no_login_and_has_no_password_sign_in_for_contributors(production, ann, client):
    assert demo_contributor_login() is None
    assert not get_user_model().objects.filter(username=CONTRIBUTOR_USERNAME).exists()
    assert client.get(reverse("sign_in")).status_code == 404
    get_user_model().objects.create_user("carol", email="carol@example.org", password="secret-secret")
    assert client.post(reverse("sign_in"), {"username": "carol", "password": "secret-secret"}).status_code == 404
    assert reverse("sign_in") not in sign_in_url("/me/")


def test_development_with_single_sign_on_seeds_no_login_and_signs_in_through_the_provider(sso_configured, ann, client):
    assert demo_contributor_login() is None
    assert client.get(reverse("sign_in")).status_code == 404
    assert sign_in_url("/me/").startswith(reverse("oidc_authentication_init"))


def test_the_development_sign_in_refuses_a_wrong_password_and_a_foreign_next(development, ann, client):
    login = demo_contributor_login()
    wrong = client.post(reverse("sign_in"), {"username": login.username, "password": "guess"})
    assert wrong.status_code == 200 and "_auth_user_id" not in client.session
    elsewhere = client.post(
        reverse("sign_in"), {"username": login.username, "password": login.password, "next": "https://evil.example/"}
    )
    assert elsewhere["Location"] == reverse("contributors:my-contributions")


def test_passwords_guessed_on_the_development_sign_in_count_against_the_login_limit():
    for path in ("/sign-in/", "/de/sign-in/"):
        assert rate_scope(RequestFactory().post(path)) == "login"
