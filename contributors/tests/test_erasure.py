"""Erasure that leaves nothing (issue 15, finding 6): after "forget", no row of any table holds the
person's e-mails, user names, uids or names — other people's activities and audits included."""

import html
import json
import unicodedata
from urllib.parse import unquote

import pytest
from django.contrib.admin.models import CHANGE, LogEntry
from django.contrib.contenttypes.models import ContentType
from django.contrib.sessions.backends.db import SessionStore
from django.contrib.sessions.models import Session
from django.db import connection
from django.urls import reverse

from accounts.models import AuthAudit
from activities.models import Activity, Source, SyncRun
from community.models import IntegrationRequest
from community.tests.factories import UserFactory, ingest, record
from contributors.erasure import FORGOTTEN
from contributors.models import (
    AccountClaim,
    EmailClaim,
    Identity,
    IdentityAudit,
    MergeSuggestion,
    Person,
    PersonMerge,
)
from contributors.services import person_forget, persons_merge
from contributors.suggestions import normalise_name

pytestmark = pytest.mark.django_db

EMAIL, HOME = "viktoria.secret@example.org", "vic.home@example.net"
LOGIN, SUMO_NAME, UID = "viktoria-gh", "vicsumo", "58323177"
NAME = 'Viktória "Vic" O\'Secretname'
DIRECTORY_ID = "E98765X"
# Everything that identified her, as the grep looks for it.
HER = (EMAIL, HOME, LOGIN, SUMO_NAME, UID, NAME, "viktoria vic o secretname", DIRECTORY_ID)


def everything_stored(*, skip_user: int) -> list[tuple[str, str]]:
    """Every table's every row as text, read through the database's own catalogue (Django's and
    third-party tables alike). Her sign-in account is the one row left: single sign-on owns it and
    the privacy page promises it stays."""
    found = []
    with connection.cursor() as cursor:
        for table in connection.introspection.table_names(cursor):
            columns = [column.name for column in connection.introspection.get_table_description(cursor, table)]
            cursor.execute(f"SELECT * FROM {connection.ops.quote_name(table)}")
            for row in cursor.fetchall():
                as_dict = dict(zip(columns, row, strict=True))
                if table == "auth_user" and as_dict["id"] == skip_user:
                    continue
                if table == "django_session":  # encoded and signed: read as the application reads it
                    as_dict["decoded"] = SessionStore().decode(as_dict["session_data"])
                found.append((table, json.dumps(as_dict, default=str, ensure_ascii=False)))
    return found


def folded(text: str) -> str:
    """Text as a reader takes it: HTML references and percent escapes decoded, full width, accents
    written apart, case (ß is ss) and runs of white space folded."""
    return " ".join(unicodedata.normalize("NFKC", unquote(html.unescape(text))).casefold().split())


def strings_in(value) -> list[str]:
    if isinstance(value, str):
        try:
            parsed = json.loads(value)
        except ValueError:
            return [value]
        return [value, *strings_in(parsed)] if isinstance(parsed, dict | list) else [value]
    if isinstance(value, dict):
        return [text for key, item in value.items() for text in (*strings_in(key), *strings_in(item))]
    if isinstance(value, list):
        return [text for item in value for text in strings_in(item)]
    return [str(value)]


def mentions(stored: list[tuple[str, str]]) -> list[tuple[str, str, str]]:
    hits = []
    for table, text in stored:
        # Every string of the row, JSON parsed, as a reader takes it.
        as_read = "\n".join(folded(string) for string in strings_in(json.loads(text)))
        hits.extend((table, value, text[:300]) for value in HER if folded(value) in as_read)
        # json.dumps above escaped quotes again; look for every written form of each value.
        haystack = text.casefold()
        for value in HER:
            forms = {value, json.dumps(value)[1:-1], json.dumps(json.dumps(value)[1:-1])[1:-1],
                     json.dumps(value, ensure_ascii=False)[1:-1], json.dumps(json.dumps(value, ensure_ascii=False)[1:-1], ensure_ascii=False)[1:-1]}
            if any(form.casefold() in haystack for form in forms):
                hits.append((table, value, text[:300]))
    return hits


@pytest.fixture
def world():
    github = Source.objects.create(slug="github", kind="github", name="GitHub")
    bugzilla = Source.objects.create(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    sumo = Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ingest(
        # Her own activities.
        record("github", {"email": EMAIL, "username": LOGIN, "uid": UID, "name": NAME}, "github.commit.authored",
               external_id="commit:1", title=f"Fix by {NAME}", data={"author": {"email": EMAIL, "name": NAME}}),
        record("sumo", {"username": SUMO_NAME, "name": NAME}, "sumo.answer.posted", external_id="answer:1"),
        record("bugzilla", {"email": HOME}, "bugzilla.bug.filed", external_id="bug:1"),
        # Other people's activities that mention her: an assignee, a cc list, comment text, a solver.
        record("bugzilla", {"email": "bob@example.org", "name": "Bob Builder"}, "bugzilla.bug.filed", external_id="bug:2",
               title=f"Crash seen by {NAME} ({EMAIL})",
               data={"assigned_to": EMAIL.upper(), "assigned_to_detail": {"real_name": NAME, "id": int(UID)},
                     "cc": [HOME, "carol@example.org"], "summary": "Crash"}),
        record("bugzilla", {"email": "carol@example.org"}, "bugzilla.comment.created", external_id="comment:2",
               data={"text": f"Thanks @{LOGIN} and {SUMO_NAME}! Mail <{EMAIL}>, ask “{NAME}”.", "count": 3}),
        record("sumo", {"username": "carol"}, "sumo.answer.solution", external_id="solution:3",
               url=f"https://support.example.org/user/{SUMO_NAME}",
               data={"solved_by": {"username": SUMO_NAME, "display_name": NAME}, "solution_by": SUMO_NAME}),
    )
    # Written by Django rather than the ingestion service: non-ASCII stored as \u escapes.
    Activity.objects.create(source=github, external_id="issue:9", type="github.issue.opened",
                            occurred_at="2025-01-01T00:00:00Z", title="Old issue",
                            identity=Identity.objects.get(value="bob@example.org"),
                            data={"assignee": {"login": LOGIN, "name": NAME}, "mentions": [f"{NAME} <{HOME}>"]})

    her = Identity.objects.get(value=EMAIL).person
    for other in (Identity.objects.get(value=SUMO_NAME).person, Identity.objects.get(value=HOME).person):
        her = persons_merge(into=her, others=[other], reason=f"Same as {EMAIL}")
    her.display_name, her.directory_id = NAME, DIRECTORY_ID
    her.save(update_fields=["display_name", "directory_id"])

    staff = UserFactory(email="staff@example.org", is_staff=True)
    user = UserFactory(email=EMAIL, first_name="Viktória")
    bob = UserFactory(email="bob@example.org")
    # Suggestions: one of hers, and one between two others that quotes her name as it compares names.
    bob_id, carol_id = (Identity.objects.get(value=value).pk for value in ("bob@example.org", "carol@example.org"))
    MergeSuggestion.objects.create(identity_a_id=bob_id, identity_b_id=Identity.objects.get(value=LOGIN).pk,
                                   reason="The same user name in different systems", score=0.6)
    MergeSuggestion.objects.create(identity_a_id=bob_id, identity_b_id=carol_id, score=0.7,
                                   reason=f"The same full name “{normalise_name(NAME)}”")
    # Audits: an old merge whose person is long gone, notes, her sign-ins, an export filtered on her.
    PersonMerge.objects.create(into=None, merged_person_id=424242, reason=f"Directory: {HOME}",
                               snapshot={"display_name": NAME, "identity_ids": [1]})
    IdentityAudit.objects.create(action="move", person_id=1, reason=f"{LOGIN} asked", details={"who": EMAIL})
    AuthAudit.objects.create(action="login", user=user, email=EMAIL, details={"name": NAME})
    AuthAudit.objects.create(action="login-refused", email=HOME.upper(), details={"email": HOME})
    AuthAudit.objects.create(action="export", user=staff, details={"what": "people", "filters": {"q": EMAIL}, "rows": 1})
    AuthAudit.objects.create(action="export", user=staff, details={"what": "activities", "filters": {"identity": UID}})
    # Claims: hers, and others' claims of her address and account.
    EmailClaim.objects.create(user=user, email="another@example.org", nonce="n")
    EmailClaim.objects.create(user=bob, email=HOME, nonce="n")
    AccountClaim.objects.create(user=bob, source=sumo, username=SUMO_NAME.upper(), evidence=f"I am {NAME}")
    AccountClaim.objects.create(user=bob, source=bugzilla, username="bob", evidence=f"Not {LOGIN}, see {EMAIL}")
    IntegrationRequest.objects.create(system="Pontoon", what_counts=f"Ask {NAME}", contact=EMAIL, requested_by=user)
    SyncRun.objects.create(source=bugzilla, rejections=[{"external_id": "bug:7", "reason": f"actor {EMAIL!r} is odd"}])
    LogEntry.objects.create(user=staff, content_type=ContentType.objects.get_for_model(Person), object_id=str(her.pk),
                            object_repr=str(her)[:200], action_flag=CHANGE, change_message="[]")
    # Her values written otherwise in others' text: upper case, escaped, full width, decomposed.
    Activity.objects.create(source=bugzilla, external_id="comment:5", type="bugzilla.comment.created",
                            occurred_at="2025-01-02T00:00:00Z", identity=Identity.objects.get(value="bob@example.org"),
                            title=f"Seen by {NAME.upper()}  and Vikt&oacute;ria &quot;Vic&quot; O&#39;Secretname",
                            url=f"https://bugzilla.example.org/buglist.cgi?email1={EMAIL.replace('@', '%40')}",
                            data={"text": "cc " + "".join(chr(ord(c) + 0xFEE0) for c in HOME),
                                  "html": f"<b>{unicodedata.normalize('NFD', NAME)}</b>"})
    # A sign-in of hers that was refused keeps her address in the browser's session, to say why.
    refused = SessionStore()
    refused["oidc_refusal"] = {"reason": "not-allowed", "email": EMAIL}
    refused.create()
    return {"her": her, "user": user, "staff": staff, "refused_session": refused.session_key}


@pytest.mark.parametrize("delete_activities", [False, True])
def test_forgetting_leaves_no_trace_in_any_table(world, delete_activities):
    assert mentions(everything_stored(skip_user=world["user"].pk))  # the grep finds her before

    counts = person_forget(person=world["her"], by=world["staff"], delete_activities=delete_activities)

    assert mentions(everything_stored(skip_user=world["user"].pk)) == []
    assert counts["mentions_erased"] > 0 and counts["claims"] == 3
    # Others keep their own record, and what did not name her.
    bug = Activity.objects.get(external_id="bug:2")
    assert bug.data["cc"] == [FORGOTTEN, "carol@example.org"] and bug.data["summary"] == "Crash"
    assert bug.data["assigned_to_detail"] == {"real_name": FORGOTTEN, "id": FORGOTTEN}
    comment = Activity.objects.get(external_id="comment:2").data["text"]
    assert comment == f"Thanks @{FORGOTTEN} and {FORGOTTEN}! Mail <{FORGOTTEN}>, ask “{FORGOTTEN}”."
    assert Identity.objects.filter(value="carol@example.org").exists()
    assert AccountClaim.objects.get(username="bob").evidence == f"Not {FORGOTTEN}, see {FORGOTTEN}"
    written_otherwise = Activity.objects.get(external_id="comment:5")
    assert written_otherwise.title == f"Seen by {FORGOTTEN}  and {FORGOTTEN}"
    assert written_otherwise.url == f"https://bugzilla.example.org/buglist.cgi?email1={FORGOTTEN}"
    assert written_otherwise.data == {"text": f"cc {FORGOTTEN}", "html": f"<b>{FORGOTTEN}</b>"}
    assert not Session.objects.filter(session_key=world["refused_session"]).exists()
    assert MergeSuggestion.objects.get().identity_b_id == Identity.objects.get(value="carol@example.org").pk


def test_asking_to_be_forgotten_leaves_no_trace_either(client, world, settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP
    client.force_login(world["user"])
    response = client.post(reverse("contributors:my-forget"), {"confirm": "on"})
    assert response.status_code == 200 and response.context["done"]
    assert mentions(everything_stored(skip_user=world["user"].pk)) == []
    # Her sign-in stays, as promised, and finds nothing.
    assert client.get(reverse("contributors:my-contributions")).context["person"] is None


def test_a_short_user_name_is_replaced_only_where_it_is_the_whole_value():
    Source.objects.create(slug="sumo", kind="sumo", name="SUMO")
    ingest(
        record("sumo", {"username": "a"}, "sumo.answer.posted", external_id="answer:1"),
        record("sumo", {"username": "carol"}, "sumo.answer.posted", external_id="answer:2",
               title="a question", data={"solution_by": "A", "text": "a cat and a dog", "count": 1}),
    )
    person_forget(person=Identity.objects.get(value="a").person)
    other = Activity.objects.get(external_id="answer:2")
    assert other.data == {"solution_by": FORGOTTEN, "text": "a cat and a dog", "count": 1}
    assert other.title == "a question"


def test_a_longer_value_is_replaced_only_where_it_stands_alone():
    Source.objects.create(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(
        record("bugzilla", {"email": "ann@example.org", "username": "ann"}, "bugzilla.bug.filed", external_id="bug:1"),
        record("bugzilla", {"email": "joann@example.org"}, "bugzilla.bug.filed", external_id="bug:2",
               title="ann-marie, joann@example.org, ann@example.org.uk and ann@other.org stay; ann goes.",
               data={"cc": ["joann@example.org", "Ann@Example.org"]}),
    )
    person_forget(person=Identity.objects.get(value="ann").person)
    other = Activity.objects.get(external_id="bug:2")
    assert other.title == f"ann-marie, joann@example.org, ann@example.org.uk and ann@other.org stay; {FORGOTTEN} goes."
    assert other.data == {"cc": ["joann@example.org", FORGOTTEN]}
    assert Identity.objects.filter(value="joann@example.org").exists()


def test_someone_else_with_the_same_name_keeps_it_on_their_own_record():
    Source.objects.create(slug="github", kind="github", name="GitHub")
    ingest(record("github", {"uid": "1", "name": "Dave Jones"}, "github.comment.created", external_id="c:1"),
           record("github", {"uid": "2", "name": "Dave Jones"}, "github.comment.created", external_id="c:2"))
    person_forget(person=Identity.objects.get(value="1").person)
    assert Identity.objects.get(value="2").name == "Dave Jones"


JORG = {"email": "jorg.strauss@example.org", "username": "joergsecret", "uid": "77123456", "name": "Jörg Strauß"}
FULL_WIDTH = "".join(chr(ord(char) + 0xFEE0) for char in JORG["email"])


def forget_jorg(**written) -> Activity:
    """Forget Jörg after Bob's activity mentioned him as `written`; return Bob's activity."""
    Source.objects.create(slug="github", kind="github", name="GitHub")
    ingest(record("github", JORG, "github.commit.authored", external_id="his"),
           record("github", {"username": "bob", "uid": "9"}, "github.comment.created", external_id="bob", **written))
    person_forget(person=Identity.objects.get(value=JORG["email"]).person)
    assert not [(table, value) for table, value, _text in mentions(everything_stored(skip_user=0))
                if value in JORG.values()]
    return Activity.objects.get(external_id="bob")


@pytest.mark.parametrize(("written", "left"), [
    ({"title": "Review by JÖRG STRAUSS"}, f"Review by {FORGOTTEN}"),  # case folding changes the length
    ({"title": "Review by JÖRG STRAUß"}, f"Review by {FORGOTTEN}"),  # SQLite's LIKE folds ASCII only
    ({"title": "Thanks Jörg  Strauß!"}, f"Thanks {FORGOTTEN}!"),
    ({"title": unicodedata.normalize("NFD", "Jörg Strauß") + " reviewed"}, f"{FORGOTTEN} reviewed"),
    ({"title": "Strauß, Jörg reviewed"}, f"{FORGOTTEN} reviewed"),
    ({"title": "Thanks J&ouml;rg Strau&szlig; (jorg.strauss&#64;example.org)"}, f"Thanks {FORGOTTEN} ({FORGOTTEN})"),
    ({"url": "https://bugzilla.example.org/buglist.cgi?email1=jorg.strauss%40example.org&x=1"},
     f"https://bugzilla.example.org/buglist.cgi?email1={FORGOTTEN}&x=1"),
    ({"url": "https://example.org/?who=J%C3%B6rg%20Strau%C3%9F"}, f"https://example.org/?who={FORGOTTEN}"),
    ({"url": "https://example.org/?q=%22jorg.strauss%40example.org%22"}, f"https://example.org/?q=%22{FORGOTTEN}%22"),
    ({"data": {"text": f"cc {FULL_WIDTH}"}}, {"text": f"cc {FORGOTTEN}"}),
    ({"data": {"html": '<a href="mailto:jorg.strauss&#64;example.org">J&ouml;rg</a>'}},
     {"html": f'<a href="mailto:{FORGOTTEN}">J&ouml;rg</a>'}),
])
def test_her_values_are_found_however_they_are_written(written, left):
    (field,) = written
    assert getattr(forget_jorg(**written), field) == left


def test_a_refused_sign_in_forgets_her_address_and_nobody_is_signed_out():
    refused, signed_in = SessionStore(), SessionStore()
    refused["oidc_refusal"] = {"reason": "not-allowed", "email": JORG["email"]}
    refused.create()
    signed_in.update({"_auth_user_id": "1", "django_language": "de", "oidc_refusal": {"email": JORG["email"].upper()}})
    signed_in.create()
    forget_jorg()
    assert not Session.objects.filter(session_key=refused.session_key).exists()
    assert SessionStore(session_key=signed_in.session_key).load() == {"_auth_user_id": "1", "django_language": "de"}


def test_written_otherwise_a_longer_address_still_stays():
    Source.objects.create(slug="bugzilla", kind="bugzilla", name="Bugzilla")
    ingest(
        record("bugzilla", {"email": "ann@example.org", "username": "ann"}, "bugzilla.bug.filed", external_id="bug:1"),
        record("bugzilla", {"email": "joann@example.org"}, "bugzilla.bug.filed", external_id="bug:2",
               url="https://b.example.org/?cc=joann%40example.org&cc=ANN%40EXAMPLE.ORG",
               title="J&ouml;ann&#64;example.org and ａｎｎ＠ｅｘａｍｐｌｅ．ｏｒｇ．ｕｋ stay"),
    )
    person_forget(person=Identity.objects.get(value="ann").person)
    other = Activity.objects.get(external_id="bug:2")
    assert other.url == f"https://b.example.org/?cc=joann%40example.org&cc={FORGOTTEN}"
    assert other.title == "J&ouml;ann&#64;example.org and ａｎｎ＠ｅｘａｍｐｌｅ．ｏｒｇ．ｕｋ stay"


def test_a_name_in_another_script_is_found_by_reading_every_row():
    Source.objects.create(slug="github", kind="github", name="GitHub")
    ingest(record("github", {"uid": "1", "name": "Иван Петров"}, "github.commit.authored", external_id="his"),
           record("github", {"uid": "2"}, "github.comment.created", external_id="bob", title="Thanks ИВАН  ПЕТРОВ",
                  data={"by": "Ива&#1085; Петров"}))
    person_forget(person=Identity.objects.get(value="1").person)
    bob = Activity.objects.get(external_id="bob")
    assert (bob.title, bob.data) == (f"Thanks {FORGOTTEN}", {"by": FORGOTTEN})


# Text columns reviewed as never mentioning someone to forget, so they declare no `erasure_fields`:
# the person's own record (deleted with them; others' identities and names stay, on purpose), the
# keys counting uses, configuration staff write, secrets' hashes and the engine's own bookkeeping.
NOT_ABOUT_SOMEONE = {
    "contributors.Person": {"display_name", "directory_id", "profile_name"},
    "contributors.Identity": {"namespace", "value", "name"},
    "contributors.IdentityExclusion": {"value"},
    "contributors.PlaceholderAccount": {"source_kind", "value", "note"},
    "contributors.EmailClaim": {"nonce"},
    "activities.Source": {"slug", "kind", "name", "base_url", "options", "token_env", "account_namespace"},
    "activities.SourceHealth": {"slug", "kind", "name", "base_url", "options", "token_env", "account_namespace"},
    "activities.SourceConnectionChange": {"source_slug", "old_value", "new_value", "by_name"},
    "activities.SourceToken": {"name", "prefix", "token_hash"},
    "activities.Activity": {"external_id", "type", "container"},
    "activities.SyncState": {"checkpoint", "lock_owner", "source_totals"},  # counts by kind of item
    "activities.SyncRun": {"trigger", "rejected_reasons"},  # counts by the connectors' fixed wordings
    "activities.RejectedItem": {"external_id", "reason"},
    "accounts.ApiToken": {"name", "prefix", "token_hash"},
    "community.IntegrationRequest": {"system", "url"},
}
BALOO_APPS = {"activities", "contributors", "conversion_points", "metrics", "accounts", "community", "dashboard", "api"}
# Rules, counts and translations: nothing in them is about one contributor.
RULES_AND_COUNTS = {"conversion_points", "metrics"}


def test_every_column_that_may_mention_a_person_is_declared_for_erasure():
    """A new model with free text (or a new text column) must say whether it may mention a person."""
    from django.apps import apps
    from django.db import models

    from contributors.erasure import erasure_targets

    declared = {model._meta.label: set(fields) for model, fields in erasure_targets()}
    undeclared = {}
    for model in apps.get_models():
        label = model._meta.label
        if model._meta.app_label not in BALOO_APPS or model._meta.app_label in RULES_AND_COUNTS:
            continue
        text = {
            field.name
            for field in model._meta.concrete_fields
            if isinstance(field, models.CharField | models.TextField | models.JSONField) and not field.choices
        }
        missing = text - declared.get(label, set()) - NOT_ABOUT_SOMEONE.get(label, set())
        if missing:
            undeclared[label] = sorted(missing)
    assert undeclared == {}
    assert declared["admin.LogEntry"] == {"object_repr", "change_message"}
    assert {"Activity", "SyncRun", "AuthAudit", "IntegrationRequest", "AccountClaim"} <= {
        model.__name__ for model, _fields in erasure_targets()
    }
