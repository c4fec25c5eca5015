"""The people admin: pages render, search finds people by any account, keys stay read-only."""

from datetime import date

import pytest
from django.contrib.auth.models import Permission
from django.test import Client
from django.urls import reverse

from accounts.roles import BUILDER_GROUP, role_groups_ensure
from activities.models import Source
from contributors.models import Identity, IdentityAudit, Person, PersonMerge, StaffPeriod

pytestmark = pytest.mark.django_db


@pytest.fixture
def ann() -> Person:
    source = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    person = Person.objects.create(display_name="Ann Example")
    Identity.objects.create(person=person, kind=Identity.Kind.EMAIL, value="ann@example.org")
    Identity.objects.create(person=person, kind=Identity.Kind.USERNAME, namespace="sumo", value="annex", source=source)
    return person


@pytest.fixture
def bot() -> Person:
    person = Person.objects.create(display_name="dependabot[bot]", is_bot=True)
    Identity.objects.create(person=person, kind=Identity.Kind.USERNAME, namespace="github", value="dependabot[bot]")
    return person


def post_staff_period(admin_client: Client, ann: Person, *, staff_from: str, staff_until: str):
    """Save Ann's change page with one new staff period and her two accounts as they are."""
    return admin_client.post(
        reverse("admin:contributors_person_change", args=[ann.pk]),
        {
            "display_name": "Ann Example",
            "staff_periods-TOTAL_FORMS": "1",
            "staff_periods-INITIAL_FORMS": "0",
            "staff_periods-MIN_NUM_FORMS": "0",
            "staff_periods-MAX_NUM_FORMS": "1000",
            "staff_periods-0-staff_from": staff_from,
            "staff_periods-0-staff_until": staff_until,
            "identities-TOTAL_FORMS": "2",
            "identities-INITIAL_FORMS": "2",
            "identities-MIN_NUM_FORMS": "0",
            "identities-MAX_NUM_FORMS": "1000",
            **{f"identities-{i}-id": str(identity.pk) for i, identity in enumerate(ann.identities.all())},
            **{f"identities-{i}-person": str(ann.pk) for i in range(2)},
        },
    )


def test_person_changelist_shows_identity_counts(admin_client: Client, ann: Person, bot: Person) -> None:
    response = admin_client.get(reverse("admin:contributors_person_changelist"))

    assert response.status_code == 200
    assert {p.display_name: p.identity_count for p in response.context["cl"].result_list} == {
        "Ann Example": 2,
        "dependabot[bot]": 1,
    }


def test_person_search_finds_any_identity(admin_client: Client, ann: Person, bot: Person) -> None:
    url = reverse("admin:contributors_person_changelist")

    by_username = admin_client.get(url, {"q": "annex"})
    by_name = admin_client.get(url, {"q": "dependabot"})

    assert list(by_username.context["cl"].result_list) == [ann]
    assert list(by_name.context["cl"].result_list) == [bot]


def test_person_filter_by_bot(admin_client: Client, ann: Person, bot: Person) -> None:
    response = admin_client.get(reverse("admin:contributors_person_changelist"), {"is_bot__exact": "1"})

    assert list(response.context["cl"].result_list) == [bot]


def test_person_change_page_lists_identities(admin_client: Client, ann: Person) -> None:
    response = admin_client.get(reverse("admin:contributors_person_change", args=[ann.pk]))

    assert response.status_code == 200
    html = response.content.decode()
    assert "ann@example.org" in html
    assert "annex" in html


def test_giving_a_person_a_staff_period(admin_client: Client, ann: Person) -> None:
    response = post_staff_period(admin_client, ann, staff_from="2024-03-01", staff_until="")

    assert response.status_code == 302
    period = StaffPeriod.objects.get(person=ann)
    assert (period.staff_from, period.staff_until, period.origin) == (date(2024, 3, 1), None, "admin")
    assert IdentityAudit.objects.get(action="flag", person_id=ann.pk).details == {
        "staff_periods_saved": 1,
        "staff_periods_deleted": 0,
    }
    listed = admin_client.get(reverse("admin:contributors_person_changelist"), {"staff": "now"})
    assert list(listed.context["cl"].result_list) == [ann]


def test_a_staff_period_ending_before_it_starts_is_refused(admin_client: Client, ann: Person) -> None:
    response = post_staff_period(admin_client, ann, staff_from="2024-03-01", staff_until="2024-02-01")

    assert response.status_code == 200
    assert not StaffPeriod.objects.exists()


def test_identity_pages_render_and_search(admin_client: Client, ann: Person, bot: Person) -> None:
    url = reverse("admin:contributors_identity_changelist")
    assert admin_client.get(url).status_code == 200

    response = admin_client.get(url, {"q": "ann@"})

    assert [identity.value for identity in response.context["cl"].result_list] == ["ann@example.org"]
    identity = ann.identities.get(kind=Identity.Kind.EMAIL)
    change = admin_client.get(reverse("admin:contributors_identity_change", args=[identity.pk]))
    assert change.status_code == 200
    # Nothing is edited by hand: moving an identity goes through the audited "split out" action.
    html = change.content.decode()
    assert 'name="value"' not in html
    assert 'name="person"' not in html


def test_identities_and_persons_are_not_added_by_hand(admin_client: Client) -> None:
    assert admin_client.get(reverse("admin:contributors_identity_add")).status_code == 403
    assert admin_client.get(reverse("admin:contributors_person_add")).status_code == 403


def test_merge_audit_is_readable_not_editable(admin_client: Client, ann: Person) -> None:
    merge = PersonMerge.objects.create(into=ann, merged_person_id=99, reason="same e-mail", snapshot={"display_name": "Ann"})

    assert admin_client.get(reverse("admin:contributors_personmerge_changelist")).status_code == 200
    response = admin_client.get(reverse("admin:contributors_personmerge_change", args=[merge.pk]))

    assert response.status_code == 200
    assert 'name="_save"' not in response.content.decode()
    assert admin_client.get(reverse("admin:contributors_personmerge_add")).status_code == 403


def test_merging_shows_what_will_move_first_then_merges_with_a_reason(admin_client: Client, ann: Person, bot: Person) -> None:
    from contributors.models import IdentityAudit

    url = reverse("admin:contributors_person_changelist")
    chosen = {"action": "merge_people", "_selected_action": [ann.pk, bot.pk]}
    preview = admin_client.post(url, chosen)

    assert preview.status_code == 200
    assert "What will move" in preview.content.decode()
    assert Person.objects.filter(pk__in=[ann.pk, bot.pk]).count() == 2  # nothing merged yet

    admin_client.post(url, {**chosen, "confirmed": "yes", "reason": "Same human"})

    assert Person.objects.filter(pk__in=[ann.pk, bot.pk]).count() == 1
    assert IdentityAudit.objects.get(action="merge").reason == "Same human"


def test_a_merge_can_be_undone_from_the_admin(admin_client: Client, ann: Person, bot: Person) -> None:
    from contributors.models import PersonMerge
    from contributors.services import persons_merge

    persons_merge(into=ann, others=[bot], reason="oops")
    admin_client.post(
        reverse("admin:contributors_personmerge_changelist"),
        {"action": "undo", "_selected_action": [PersonMerge.objects.get().pk]},
    )
    assert Person.objects.filter(pk__in=[ann.pk, bot.pk]).count() == 2


def test_forgetting_asks_first_then_forgets(admin_client: Client, ann: Person) -> None:
    url = reverse("admin:contributors_person_changelist")
    chosen = {"action": "forget_people", "_selected_action": [ann.pk]}
    assert "cannot be undone" in admin_client.post(url, chosen).content.decode()
    admin_client.post(url, {**chosen, "confirmed": "yes", "delete_activities": "no"})
    assert not Person.objects.filter(pk=ann.pk).exists()


@pytest.mark.parametrize("may_view_people", [False, True])
def test_a_community_builder_cannot_date_anyones_staff_time_or_merge_in_bulk(django_user_model, ann: Person, may_view_people: bool) -> None:
    """A builder — even one allowed to read people — cannot give or change a staff period (which moves
    a person's contributions between the volunteer and staff series), accept suggestions in bulk, or
    read the items syncs rejected."""
    user = django_user_model.objects.create_user(username="builder", email="b@example.org", is_staff=True)
    user.groups.add(role_groups_ensure()[BUILDER_GROUP])
    if may_view_people:
        user.user_permissions.add(Permission.objects.get(codename="view_person"))
    builder = Client()
    builder.force_login(user)

    saved = post_staff_period(builder, ann, staff_from="2020-01-01", staff_until="")

    assert saved.status_code == 403
    assert not StaffPeriod.objects.filter(person=ann).exists()
    assert builder.get(reverse("admin:contributors_mergesuggestion_accept_above"), {"score": "0"}).status_code == 403
    assert builder.get(reverse("admin:activities_rejecteditem_changelist")).status_code == 403
