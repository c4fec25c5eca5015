"""The areas and conversion points admin: pages render, translated names, and rules a person understands."""

import pytest
from django.contrib.auth import get_user_model
from django.test import Client
from django.urls import reverse

from activities.models import Source
from conversion_points.models import Area, ConversionPoint

pytestmark = pytest.mark.django_db


@pytest.fixture
def sumo() -> Source:
    return Source.objects.create(slug="sumo", kind="sumo", name="SUMO")


@pytest.fixture
def support(sumo: Source) -> Area:
    area = Area.objects.create(slug="support", name_en="Support", name_fr="Assistance", target=1500)
    area.sources.add(sumo)
    ConversionPoint.objects.create(
        area=area, slug="sumo-answer", source=sumo, types=["sumo.answer.posted"], name_en="Answered a question"
    )
    ConversionPoint.objects.create(
        area=area, slug="sumo-kb", source=sumo, types=["sumo.revision.approved"], name_en="Edited the knowledge base"
    )
    return area


def conversion_point_form(area: Area, source: Source, **overrides: str) -> dict[str, str]:
    return {
        "area": str(area.pk),
        "slug": "sumo-question",
        "name_en": "Asked a good question",
        "level": "casual",
        "enabled": "on",
        "source": str(source.pk),
        "types": '["sumo.question.asked"]',
        "container": "*",
        **overrides,
    }


def test_area_changelist_counts_conversion_points(admin_client: Client, support: Area) -> None:
    Area.objects.create(slug="l10n", name_en="Localization")

    response = admin_client.get(reverse("admin:conversion_points_area_changelist"))

    assert response.status_code == 200
    assert {a.slug: a.conversion_point_count for a in response.context["cl"].result_list} == {
        "support": 2,
        "l10n": 0,
    }


def test_area_search_by_name(admin_client: Client, support: Area) -> None:
    Area.objects.create(slug="l10n", name_en="Localization")

    response = admin_client.get(reverse("admin:conversion_points_area_changelist"), {"q": "Support"})

    assert [a.slug for a in response.context["cl"].result_list] == ["support"]


def test_area_pages_show_every_language_and_the_conversion_points(admin_client: Client, support: Area) -> None:
    assert admin_client.get(reverse("admin:conversion_points_area_add")).status_code == 200

    response = admin_client.get(reverse("admin:conversion_points_area_change", args=[support.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    for language in ("en", "de", "fr", "es"):
        assert f'name="name_{language}"' in html
    assert "Assistance" in html
    assert "Answered a question" in html
    assert 'name="owners"' in html


def test_admin_pages_load_nothing_from_the_internet(admin_client: Client, support: Area) -> None:
    pages = [
        reverse("admin:conversion_points_area_change", args=[support.pk]),
        reverse("admin:conversion_points_conversionpoint_add"),
    ]
    for page in pages:
        html = admin_client.get(page).content.decode()
        assert 'src="//' not in html
        assert 'src="http' not in html


def test_area_owners_can_be_set(admin_client: Client) -> None:
    builder = get_user_model().objects.create_user(username="builder")

    response = admin_client.post(
        reverse("admin:conversion_points_area_add"),
        {
            "slug": "l10n",
            "name_en": "Localization",
            "name_de": "Lokalisierung",
            "position": "0",
            "owners": [str(builder.pk)],
            "conversion_points-TOTAL_FORMS": "0",
            "conversion_points-INITIAL_FORMS": "0",
            "conversion_points-MIN_NUM_FORMS": "0",
            "conversion_points-MAX_NUM_FORMS": "1000",
        },
    )

    assert response.status_code == 302
    area = Area.objects.get(slug="l10n")
    assert list(area.owners.all()) == [builder]
    assert area.name_de == "Lokalisierung"


def test_conversion_point_pages_render_and_search(admin_client: Client, support: Area) -> None:
    url = reverse("admin:conversion_points_conversionpoint_changelist")
    assert admin_client.get(url).status_code == 200
    assert admin_client.get(reverse("admin:conversion_points_conversionpoint_add")).status_code == 200
    point = ConversionPoint.objects.get(slug="sumo-kb")
    assert admin_client.get(reverse("admin:conversion_points_conversionpoint_change", args=[point.pk])).status_code == 200

    response = admin_client.get(url, {"q": "answered"})

    assert [p.slug for p in response.context["cl"].result_list] == ["sumo-answer"]


def test_conversion_point_is_created_from_the_form(admin_client: Client, support: Area, sumo: Source) -> None:
    response = admin_client.post(
        reverse("admin:conversion_points_conversionpoint_add"), conversion_point_form(support, sumo)
    )

    assert response.status_code == 302
    point = ConversionPoint.objects.get(slug="sumo-question")
    assert point.types == ["sumo.question.asked"]
    assert point.name_en == "Asked a good question"


@pytest.mark.parametrize(
    ("types", "message"),
    [
        ('["Sumo.Answer.Posted"]', "“Sumo.Answer.Posted” is not an activity type"),
        ('["sumo.answer"]', "“sumo.answer” is not an activity type"),
        ('["sumo.answer.posted", 3]', "“3” is not an activity type"),
        ("[]", "List at least one activity type"),
        ('"sumo.answer.posted"', "List at least one activity type"),
    ],
)
def test_conversion_point_rejects_a_bad_type_with_a_clear_message(
    admin_client: Client, support: Area, sumo: Source, types: str, message: str
) -> None:
    response = admin_client.post(
        reverse("admin:conversion_points_conversionpoint_add"), conversion_point_form(support, sumo, types=types)
    )

    assert response.status_code == 200
    errors = response.context["adminform"].form.errors["types"]
    assert any(message in error for error in errors)
    assert "&lt;system&gt;.&lt;object&gt;.&lt;action&gt;" in response.content.decode()
    assert not ConversionPoint.objects.filter(slug="sumo-question").exists()


def test_previewing_a_rule_shows_what_it_matches_and_saves_nothing(admin_client: Client, support: Area, sumo: Source) -> None:
    from activities.services import activities_ingest

    activities_ingest(
        records=enumerate(
            [
                {
                    "source": "sumo",
                    "external_id": f"q{n}",
                    "type": "sumo.question.asked",
                    "occurred_at": "2026-11-01T10:00:00Z",
                    "actor": {"username": f"asker{n % 2}"},
                }
                for n in range(3)
            ]
        )
    )
    response = admin_client.post(
        reverse("admin:conversion_points_conversionpoint_add"), {**conversion_point_form(support, sumo), "_preview": "1"}
    )

    assert response.status_code == 200
    assert "this rule matches 3 activities by 2 people" in response.content.decode()
    assert not ConversionPoint.objects.filter(slug="sumo-question").exists()


def test_a_rule_shows_the_types_its_source_sends_and_saving_asks_for_a_recompute(
    admin_client: Client, support: Area, sumo: Source, django_capture_on_commit_callbacks
) -> None:
    from metrics.models import MetricRun

    point = support.conversion_points.get(slug="sumo-answer")
    page = admin_client.get(reverse("admin:conversion_points_conversionpoint_change", args=[point.pk])).content.decode()
    assert "This source has sent nothing yet." in page
    assert "Preview what it matches" in page

    with django_capture_on_commit_callbacks() as once_committed:
        admin_client.post(reverse("admin:conversion_points_conversionpoint_add"), conversion_point_form(support, sumo))
    assert not MetricRun.objects.exists()  # asked for only once the change is committed
    for callback in once_committed:
        callback()
    assert MetricRun.objects.filter(status=MetricRun.Status.QUEUED).exists()
