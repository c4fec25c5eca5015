"""The weekly digest: what it says, to whom, in which language, never twice, and an unsubscribe link no one can forge."""

import json
from datetime import timedelta
from io import StringIO
from unittest import mock

import pytest
from django.core import mail, signing
from django.core.management import call_command
from django.test import Client

from accounts.tests.worlds import D, roles_world
from baloo_site.celery_beat import CELERY_BEAT_SCHEDULE
from desk.digest import UNSUBSCRIBE_SALT, digest_send, unsubscribe_token
from desk.models import DigestDelivery, DigestSetting

pytestmark = pytest.mark.django_db


@pytest.fixture
def world(settings) -> dict:
    settings.EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
    settings.BALOO_SITE_URL = "https://baloo.example.org"
    return roles_world()


def test_each_owner_gets_their_areas_new_and_lapsed_people(world):
    report = digest_send(week_end=D)
    assert sorted(report.sent) == ["builder-a"] and report.nothing == ["builder-b"]  # coding had no new or lapsed person
    [message] = mail.outbox
    assert message.to == ["a@example.org"]
    assert "Ann" in message.body and "Cid" in message.body and "Ben" not in message.body
    assert "Dot" not in message.body and "Bot" not in message.body  # staff and bots never count
    assert f"https://baloo.example.org/desk/area/support/?week={D.isoformat()}" in message.body
    assert message.extra_headers["List-Unsubscribe-Post"] == "List-Unsubscribe=One-Click"
    delivery = DigestDelivery.objects.get(user=world["builder_a"], week=D)
    assert delivery.status == "sent" and delivery.summary == {"support": {"new": 1, "about_to_lapse": 0, "lapsed": 1}}


def test_never_twice_for_a_week_even_when_beat_fires_again(world):
    digest_send(week_end=D)
    again = digest_send(week_end=D)
    assert len(mail.outbox) == 1 and again.already == ["builder-a", "builder-b"]
    digest_send(week_end=D + timedelta(days=7))  # next week is another digest
    assert DigestDelivery.objects.filter(user=world["builder_a"]).count() == 2


def test_a_worker_killed_mid_send_does_not_send_again(world):
    # The claim was committed, then the worker died: the e-mail may have left.
    DigestDelivery.objects.create(user=world["builder_a"], week=D, status="sending")
    out = StringIO()
    call_command("send_weekly_digest", "--week", D.isoformat(), stdout=out)
    assert mail.outbox == [] and "never confirmed" in out.getvalue() and "builder-a" in out.getvalue()


def test_a_refused_message_is_tried_again_next_run(world):
    with mock.patch("django.core.mail.EmailMessage.send", side_effect=ConnectionRefusedError):
        report = digest_send(week_end=D)
    assert report.failed == ["builder-a"] and not DigestDelivery.objects.filter(user=world["builder_a"]).exists()
    assert digest_send(week_end=D).sent == ["builder-a"]


def test_the_owners_language(world):
    DigestSetting.objects.create(user=world["builder_a"], language="de")
    digest_send(week_end=D)
    assert "https://baloo.example.org/de/desk/area/support/" in mail.outbox[0].body


def test_a_builder_who_lost_the_role_gets_no_digest(world):
    world["builder_a"].groups.clear()
    assert digest_send(week_end=D).sent == [] and mail.outbox == []


def test_one_click_unsubscribe(world):
    token = unsubscribe_token(user=world["builder_a"])
    page = Client().get(f"/desk/digest/unsubscribe/{token}/")
    assert page.status_code == 200 and DigestSetting.objects.filter(user=world["builder_a"]).count() == 0
    # A mail program's one-click button posts without a form or CSRF token (RFC 8058).
    assert Client(enforce_csrf_checks=True).post(f"/desk/digest/unsubscribe/{token}/").status_code == 200
    assert DigestSetting.objects.get(user=world["builder_a"]).subscribed is False
    assert digest_send(week_end=D).unsubscribed == ["builder-a"] and mail.outbox == []


def with_payload_of(user, token: str) -> str:
    """`token`'s timestamp and signature, with a payload naming `user` instead."""
    _payload, timestamp, signature = token.split(":")
    return f"{signing.b64_encode(json.dumps({'user': user.pk}, separators=(',', ':')).encode()).decode()}:{timestamp}:{signature}"


@pytest.mark.parametrize(
    "forge",
    [
        lambda a, b: signing.dumps({"user": b.pk}, salt="another.salt"),  # signed for another purpose
        lambda a, b: signing.dumps({"user": b.pk}, salt=UNSUBSCRIBE_SALT, key="not-the-secret"),
        lambda a, b: with_payload_of(b, unsubscribe_token(user=a)),  # someone else's id in a real token
        lambda a, b: signing.b64_encode(f'{{"user":{b.pk}}}'.encode()).decode() + ":x:y",
        lambda a, b: "../../admin/",
    ],
)
def test_the_unsubscribe_link_cannot_be_forged_for_another_user(world, forge):
    victim = world["builder_b"]
    token = forge(world["builder_a"], victim)
    answer = Client().post(f"/desk/digest/unsubscribe/{token}/")
    assert answer.status_code in (400, 404)
    assert not DigestSetting.objects.filter(user=victim, subscribed=False).exists()


def test_the_digest_settings_page(world):
    client = Client()
    client.force_login(world["builder_a"])
    assert client.post("/desk/digest/", {"language": "fr"}).status_code == 302  # unchecked box: no digest
    setting = DigestSetting.objects.get(user=world["builder_a"])
    assert (setting.subscribed, setting.language) == (False, "fr")
    assert client.post("/desk/digest/", {"language": "xx", "subscribed": "on"}).status_code == 200  # refused, shown again
    assert DigestSetting.objects.get(user=world["builder_a"]).language == "fr"


def test_beat_sends_it_on_monday_morning():
    entry = CELERY_BEAT_SCHEDULE["send-weekly-digest"]
    assert entry["task"] == "desk.send_weekly_digest"
    assert entry["schedule"].day_of_week == {1} and entry["schedule"].hour == {6}


def test_the_task_sends_the_latest_complete_week(world):
    from desk.tasks import send_weekly_digest

    assert send_weekly_digest.name == "desk.send_weekly_digest"
    assert send_weekly_digest() == {"sent": 0, "nothing": 2, "already": 0, "failed": 0}  # D is long past: a quiet week
    assert send_weekly_digest()["already"] == 2
