"""The rule editor for community builders: types chosen or typed plainly, containers suggested, a preview that informs.

The preview's numbers are held to the recompute (the oracle: what it says the area becomes is what the
dashboard shows once the rule is saved), and it is written from the attacker's side too: a builder
previewing a rule never learns the name of anyone outside what their approved rules already show them.
"""

from datetime import timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse
from django.utils import translation
from django.utils.formats import date_format

from accounts.roles import BUILDER
from accounts.services import user_roles_apply
from activities.models import Source
from activities.services import activities_ingest
from conversion_points.contributions import today_utc, window_start
from conversion_points.forms import MAX_TYPES_TEXT
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import conversion_points_approve
from metrics.engine import metrics_recompute
from metrics.selectors import metrics_summary

pytestmark = pytest.mark.django_db

User = get_user_model()
ADD = "admin:conversion_points_conversionpoint_add"


def record(n: int, kind: str, who: str, container: str, days_ago: int = 10) -> dict[str, Any]:
    moment = today_utc() - timedelta(days=days_ago)
    return {
        "source": "sumo", "external_id": f"{kind}:{n}", "type": kind, "occurred_at": f"{moment.isoformat()}T10:00:00Z",
        "actor": {"username": who.lower().replace(" ", "-"), "name": who}, "container": container,
    }


@pytest.fixture
def world() -> SimpleNamespace:
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    support = Area.objects.create(slug="support", name_en="Support")
    l10n = Area.objects.create(slug="l10n", name_en="Localization")
    support.sources.add(sumo)
    l10n.sources.add(sumo)
    answer = ConversionPoint.objects.create(
        area=support, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], container="*", name_en="Answered"
    )
    translate = ConversionPoint.objects.create(
        area=l10n, slug="sumo-kb", source=sumo, types=["sumo.revision.created"], container="*::de", name_en="Translated"
    )
    conversion_points_approve(points=[answer, translate], by=None)
    activities_ingest(records=enumerate([
        record(1, "sumo.answer.posted", "Alice Answer", "firefox::en-US"),
        record(2, "sumo.answer.posted", "Bob Answer", "firefox::de"),
        record(3, "sumo.answer.posted", "Alice Answer", "thunderbird::en-US"),
        record(4, "sumo.question.asked", "Carol Asker", "firefox::de"),
        record(5, "sumo.question.asked", "Alice Answer", "firefox::en-US"),
        record(6, "sumo.revision.created", "Dora Translator", "firefox::de"),
        record(7, "sumo.revision.created", "Dora Translator", "firefox::de", days_ago=400),
    ]))
    builder = User.objects.create_user("builder", "builder@example.org")
    user_roles_apply(user=builder, roles={BUILDER})
    support.owners.add(builder)
    return SimpleNamespace(**locals())


def as_user(user: Any) -> Client:
    client = Client()
    client.force_login(user)
    return client


def rule_form(area: Area, source: Source, **overrides: Any) -> dict[str, Any]:
    return {
        "area": str(area.pk), "slug": "sumo-question", "name_en": "Asked a question", "level": "active", "enabled": "on",
        "source": str(source.pk), "container": "*", **overrides,
    }


# --------------------------------------------------------------------------- types and containers


@pytest.mark.parametrize(
    "typed",
    [
        {"types_other": "sumo.question.asked"},
        {"types": ["sumo.question.asked"]},
        {"types": ["sumo.question.asked"], "types_other": "sumo.vote.cast, sumo.question.asked"},
        {"types_other": "sumo.question.asked sumo.vote.cast"},
    ],
)
def test_types_are_ticked_or_typed_plainly_and_stored_as_the_same_json_list(admin_client: Client, world, typed) -> None:
    response = admin_client.post(reverse(ADD), rule_form(world.support, world.sumo, **typed))

    assert response.status_code == 302, response.context["adminform"].form.errors
    stored = ConversionPoint.objects.get(slug="sumo-question").types
    assert stored[0] == "sumo.question.asked" and set(stored) <= {"sumo.question.asked", "sumo.vote.cast"}
    assert len(stored) == len(set(stored))


def test_the_form_offers_the_types_and_containers_seen_with_counts(admin_client: Client, world) -> None:
    page = admin_client.get(reverse("admin:conversion_points_conversionpoint_change", args=[world.answer.pk])).content.decode()

    assert 'type="checkbox" name="types" value="sumo.answer.posted"' in page and " checked>" in page
    assert "<code>sumo.question.asked</code> <span class=\"quiet\">2 activities</span>" in page
    assert '<option value="firefox::de">4 activities</option>' in page  # the most common container first
    assert page.index('value="firefox::de"') < page.index('value="thunderbird::en-US"')
    assert "“firefox::*” is Firefox in every language" in page
    assert 'name="types_other"' in page and '<label for="id_types_other">' in page


def test_a_builder_is_offered_only_the_types_of_their_areas_sources(world) -> None:
    other = Source.objects.create(slug="secret", kind="manual", name="Secret system")
    activities_ingest(records=enumerate([{**record(9, "secret.thing.done", "Eve", "vault"), "source": "secret"}]))

    page = as_user(world.builder).get(reverse(ADD)).content.decode()

    assert "sumo.answer.posted" in page and "secret.thing.done" not in page and "vault" not in page
    assert other.pk


@pytest.mark.parametrize(
    ("typed", "container"),
    [
        ({"types_other": "<script>alert(1)</script>." + "a" * 5000}, "*"),
        ({"types_other": "sumo.answer.posted"}, "<img src=x onerror=alert(1)>" + "[" * 300),
        ({"types_other": ", ".join(f"sumo.thing.t{n}" for n in range(60))}, "*"),
        ({"types": ["<b>x</b>"] * 3, "types_other": "[\"sumo.a.b\", {\"x\": 1}]"}, "**??[!]]"),
    ],
)
def test_hostile_types_and_containers_are_refused_or_kept_escaped_and_bounded(admin_client: Client, world, typed, container) -> None:
    response = admin_client.post(reverse(ADD), {**rule_form(world.support, world.sumo, container=container), **typed, "_preview": "1"})

    page = response.content.decode()
    assert response.status_code == 200
    assert "<script>alert" not in page and "<img src=x" not in page and "<b>x</b>" not in page
    assert "a" * (MAX_TYPES_TEXT + 1) not in page  # a long value is bounded when shown again, shortened in messages
    assert not ConversionPoint.objects.filter(slug="sumo-question").exists()


def test_glob_metacharacters_in_a_container_preview_as_fnmatch_means_them(admin_client: Client, world) -> None:
    response = admin_client.post(
        reverse(ADD), {**rule_form(world.support, world.sumo, container="*::[d]?"), "types_other": "sumo.question.asked", "_preview": "1"}
    )

    assert "this rule matches 1 activity by 1 person" in response.content.decode()  # Carol's firefox::de, not en-US


# --------------------------------------------------------------------------- the preview


def test_the_preview_is_information_localized_and_saves_nothing(admin_client: Client, world) -> None:
    with translation.override("de"):
        url, since = reverse(ADD), date_format(window_start(today_utc()))
    response = admin_client.post(url, {**rule_form(world.support, world.sumo), "types_other": "sumo.question.asked", "_preview": "1"})

    page = response.content.decode()
    assert response.status_code == 200 and url.startswith("/de/")
    assert "errornote" not in page and "Error:" not in page and "Fehler" not in page
    assert since in page and since[-4:].isdigit() and "." in since  # “4. Dezember 2025”
    preview = response.context["rule_preview"]
    assert (preview["change"].before, preview["change"].after) == (2, 3)
    assert today_utc().isoformat() not in page  # dates are written as the language writes them
    assert not ConversionPoint.objects.filter(slug="sumo-question").exists()


def test_the_preview_before_and_after_equal_a_recompute_after_saving(admin_client: Client, world) -> None:
    """The oracle: the count the preview promises is the count the engine gives once the rule is saved."""
    def area_active() -> int:
        run = metrics_recompute()
        return next(area["active"] for area in metrics_summary(run=run, day=None, population="volunteers")["areas"] if area["slug"] == "support")

    for form in (
        {"types_other": "sumo.question.asked", "container": "firefox::*"},
        {"types": ["sumo.revision.created"], "container": "*::de"},
        {"types": ["sumo.question.asked"], "level": "casual"},
    ):
        ConversionPoint.objects.filter(slug="sumo-question").delete()
        before = area_active()
        data = {**rule_form(world.support, world.sumo), **form}
        change = admin_client.post(reverse(ADD), {**data, "_preview": "1"}).context["rule_preview"]["change"]
        assert change.before == before
        assert admin_client.post(reverse(ADD), data).status_code == 302
        assert area_active() == change.after, form

    # Disabling a saved rule: the preview of the edit says what the recompute then shows.
    url = reverse("admin:conversion_points_conversionpoint_change", args=[world.answer.pk])
    data = {**rule_form(world.support, world.sumo, slug="sumo-answer", name_en="Answered"), "types": ["sumo.answer.posted"]}
    data.pop("enabled")
    before = area_active()
    change = admin_client.post(url, {**data, "_preview": "1"}).context["rule_preview"]["change"]
    assert change.before == before
    assert admin_client.post(url, data).status_code == 302
    assert area_active() == change.after


def test_staff_see_whom_the_rule_adds(admin_client: Client, world) -> None:
    response = admin_client.post(reverse(ADD), {**rule_form(world.support, world.sumo), "types_other": "sumo.question.asked", "_preview": "1"})

    assert response.context["rule_preview"]["added"]["names"] == ["Carol Asker"]
    assert "Carol Asker" in response.content.decode()


def test_a_builders_preview_never_names_people_outside_what_their_approved_rules_show(world) -> None:
    client = as_user(world.builder)

    # Carol contributes only through the new, unapproved rule; Dora only in another builder's area.
    for typed in ({"types_other": "sumo.question.asked"}, {"types": ["sumo.revision.created"], "container": "*"}):
        response = client.post(reverse(ADD), {**rule_form(world.support, world.sumo), **typed, "_preview": "1"})
        page = response.content.decode()
        added = response.context["rule_preview"]["added"]
        assert added["names"] == [] and added["hidden"] == 1
        assert "Carol" not in page and "Dora" not in page and "carol-asker" not in page and "dora-translator" not in page
        assert "1 of them is not among the people you may see" in page

    # Removing a rule names the people it shows the builder now.
    url = reverse("admin:conversion_points_conversionpoint_change", args=[world.answer.pk])
    data = {**rule_form(world.support, world.sumo, slug="sumo-answer", name_en="Answered"), "types": ["sumo.answer.posted"]}
    data.pop("enabled")
    response = client.post(url, {**data, "_preview": "1"})
    assert sorted(response.context["rule_preview"]["removed"]["names"]) == ["Alice Answer", "Bob Answer"]
    assert world.answer.__class__.objects.get(pk=world.answer.pk).enabled  # nothing saved


def test_a_builder_cannot_preview_in_an_area_they_do_not_own(world) -> None:
    response = as_user(world.builder).post(
        reverse(ADD), {**rule_form(world.l10n, world.sumo), "types": ["sumo.revision.created"], "_preview": "1"}
    )

    assert "rule_preview" not in (response.context or {}) or response.context["rule_preview"] is None
    assert "Dora" not in response.content.decode()


# --------------------------------------------------------------------------- translations and labels


def test_a_text_missing_a_language_is_a_warning_and_the_save_stands(admin_client: Client, world) -> None:
    data = {**rule_form(world.support, world.sumo), "types_other": "sumo.question.asked", "name_de": "Eine Frage gestellt",
            "recognition_en": "Thanks for asking!"}

    preview = admin_client.post(reverse(ADD), {**data, "_preview": "1"})
    warnings = preview.context["rule_preview"]["warnings"]
    assert warnings == [
        "“name” has no French, Spanish text yet: pages in those languages show it in English.",
        "“recognition text” has no German, French, Spanish text yet: pages in those languages show it in English.",
    ]
    saved = admin_client.post(reverse(ADD), data, follow=True)
    assert ConversionPoint.objects.filter(slug="sumo-question").exists()
    shown = [str(message) for message in saved.context["messages"]]
    assert warnings[0] in shown and warnings[1] in shown

    complete = {**data, "slug": "sumo-question-2", "name_fr": "A posé une question", "name_es": "Hizo una pregunta",
                "recognition_en": ""}
    shown = [str(m) for m in admin_client.post(reverse(ADD), complete, follow=True).context["messages"]]
    assert not any("has no" in message for message in shown)


def test_the_area_and_source_fields_are_labelled_selects(admin_client: Client, world) -> None:
    page = admin_client.get(reverse(ADD)).content.decode()

    for name in ("area", "source"):
        assert f'<label class="required" for="id_{name}">' in page
        assert f'<select name="{name}"' in page and "admin-autocomplete" not in page
