"""Who may point a source somewhere and name its token variable, tried as a staff member who is not an administrator.

The attack: add or edit a source so that its `token_env` names a server secret (DJANGO_SECRET_KEY,
DATABASE_URL, another source's token) and its `base_url` a host the attacker controls, then
"Sync now". Staff may configure sources, but these two fields are an administrator's; each change
of them is audited; and a variable not named BALOO_TOKEN_… is refused wherever it can be set.
"""

import json
from io import StringIO

import pytest
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.test import Client
from django.urls import reverse

from accounts.roles import STAFF_GROUP, role_groups_ensure
from activities.models import Source, SourceConnectionChange, SyncRun
from conversion_points.services import ConfigError, config_load

from .builders import github_repo
from .standin import FakeGitHub, Recorder, served
from .standin_git import GitRepo

pytestmark = pytest.mark.django_db

TOKEN = "ghp_the_real_github_token"
SERVER_SECRET = "the-server-secret-key-value"


@pytest.fixture(autouse=True)
def _secrets(monkeypatch):
    monkeypatch.setenv("BALOO_TOKEN_GITHUB", TOKEN)
    monkeypatch.setenv("BALOO_TOKEN_BUGZILLA", "another-sources-key")
    monkeypatch.setenv("DJANGO_SECRET_KEY", SERVER_SECRET)


@pytest.fixture
def staff_client(django_user_model) -> Client:
    """A staff member who is not an administrator: may configure sources, not where they connect."""
    user = django_user_model.objects.create_user(username="sam", email="sam@example.org", is_staff=True)
    user.groups.add(role_groups_ensure()[STAFF_GROUP])
    client = Client()
    client.force_login(user)
    return client


@pytest.fixture
def github():
    api = FakeGitHub()
    github_repo(api, "example/app", issues=3, pulls=0, comments=2, commits=1)
    with served(api):
        yield api


@pytest.fixture
def attacker():
    with served(Recorder()) as api:
        yield api


@pytest.fixture
def source(github) -> Source:
    return Source.objects.create(
        slug="github-example", kind="github", name="GitHub", base_url=github.url, token_env="BALOO_TOKEN_GITHUB",
        options={"repos": ["example/app"], "backoff_seconds": 0},
    )


def form_data(source: Source | None = None, **changes) -> dict:
    data = {"slug": "github-new", "name": "GitHub", "kind": "github", "enabled": "on", "options": '{"repos": ["example/app"]}',
            "schedule_minutes": "60", "account_namespace": ""}
    if source is not None:
        data.update(slug=source.slug, name=source.name, kind=source.kind, options='{"repos": ["example/app"], "backoff_seconds": 0}')
    return {**data, **changes}


# ---------------------------------------------------------------------------------------- staff who are not administrators


def test_staff_see_the_connection_read_only_on_add_and_change(staff_client, source):
    for url in (reverse("admin:activities_source_add"), reverse("admin:activities_source_change", args=[source.pk])):
        html = staff_client.get(url).content.decode()
        assert 'name="name"' in html, "staff still edit the rest of a source"
        assert 'name="base_url"' not in html and 'name="token_env"' not in html


@pytest.mark.parametrize("token_env", ["DJANGO_SECRET_KEY", "DATABASE_URL", "BALOO_TOKEN_BUGZILLA"])
def test_staff_cannot_add_a_source_that_reads_a_secret_and_sends_it_home(staff_client, attacker, token_env):
    response = staff_client.post(reverse("admin:activities_source_add"), form_data(base_url=attacker.url, token_env=token_env))

    assert response.status_code == 302
    added = Source.objects.get(slug="github-new")
    assert (added.base_url, added.token_env) == ("", "")
    assert not SourceConnectionChange.objects.exists()


@pytest.mark.parametrize("token_env", ["DJANGO_SECRET_KEY", "DATABASE_URL", "BALOO_TOKEN_BUGZILLA"])
def test_staff_cannot_repoint_a_source_then_sync_it_to_their_host(staff_client, source, github, attacker, token_env):
    change = reverse("admin:activities_source_change", args=[source.pk])
    response = staff_client.post(change, form_data(source, base_url=attacker.url, token_env=token_env))
    assert response.status_code == 302

    staff_client.post(reverse("admin:activities_sourcehealth_changelist"), {"action": "sync_now", "_selected_action": [source.pk]})

    source.refresh_from_db()
    assert (source.base_url, source.token_env) == (github.url, "BALOO_TOKEN_GITHUB")
    assert attacker.requests == []
    assert SyncRun.objects.get(source=source).status == SyncRun.Status.SUCCEEDED
    assert set(github.tokens_seen) == {f"Bearer {TOKEN}"}
    assert not SourceConnectionChange.objects.exists()


# ---------------------------------------------------------------------------------------- administrators


def test_an_administrator_repoints_a_source_and_it_is_audited(admin_client, admin_user, source, github):
    change = reverse("admin:activities_source_change", args=[source.pk])

    response = admin_client.post(change, form_data(source, base_url="https://api.github.com", token_env="BALOO_TOKEN_GITHUB, BALOO_TOKEN_GH2"))

    assert response.status_code == 302
    changes = {row.field: row for row in SourceConnectionChange.objects.all()}
    assert set(changes) == {"base_url", "token_env"}
    assert (changes["base_url"].old_value, changes["base_url"].new_value) == (github.url, "https://api.github.com")
    assert (changes["token_env"].old_value, changes["token_env"].new_value) == ("BALOO_TOKEN_GITHUB", "BALOO_TOKEN_GITHUB, BALOO_TOKEN_GH2")
    assert all(row.by == admin_user and row.by_name == admin_user.username and row.via == "admin" for row in changes.values())
    assert all(row.source_slug == "github-example" and row.created_at for row in changes.values())
    # A variable's name is recorded, never its value.
    assert TOKEN not in repr(list(SourceConnectionChange.objects.values()))

    admin_client.post(change, form_data(source, name="GitHub renamed", base_url="https://api.github.com",
                                        token_env="BALOO_TOKEN_GITHUB, BALOO_TOKEN_GH2"))
    assert SourceConnectionChange.objects.count() == 2, "saving without changing the connection records nothing"


@pytest.mark.parametrize("token_env", ["DJANGO_SECRET_KEY", "DATABASE_URL", "BALOO_TOKEN_GITHUB,SECRET", "BALOO_TOKEN_", "baloo_token_x"])
def test_not_even_an_administrator_can_name_another_variable(admin_client, source, token_env):
    response = admin_client.post(reverse("admin:activities_source_change", args=[source.pk]), form_data(source, base_url=source.base_url,
                                                                                                        token_env=token_env))

    assert response.status_code == 200
    assert "start with BALOO_TOKEN_" in response.content.decode()
    source.refresh_from_db()
    assert source.token_env == "BALOO_TOKEN_GITHUB"


@pytest.mark.parametrize(
    ("base_url", "says"),
    [("http://169.254.169.254/latest/", "link-local"), ("http://10.0.0.8", "private address"),
     ("file:///etc/passwd", "only http and https"), ("https://user:pw@api.example.org", "user name or password")],
)
def test_an_administrator_is_told_why_a_base_url_is_refused(admin_client, source, base_url, says):
    response = admin_client.post(reverse("admin:activities_source_change", args=[source.pk]),
                                 form_data(source, base_url=base_url, token_env="BALOO_TOKEN_GITHUB"))

    assert response.status_code == 200
    assert says in response.content.decode()
    source.refresh_from_db()
    assert source.base_url != base_url


def test_the_audit_is_read_only_for_everyone(admin_client, staff_client, source):
    SourceConnectionChange.objects.create(source=source, source_slug=source.slug, field="base_url", new_value="https://x.example", via="admin")
    entry = SourceConnectionChange.objects.get()

    assert admin_client.get(reverse("admin:activities_sourceconnectionchange_changelist")).status_code == 200
    assert staff_client.get(reverse("admin:activities_sourceconnectionchange_changelist")).status_code == 200
    assert admin_client.get(reverse("admin:activities_sourceconnectionchange_add")).status_code == 403
    assert admin_client.post(reverse("admin:activities_sourceconnectionchange_delete", args=[entry.pk]), {"post": "yes"}).status_code == 403
    assert SourceConnectionChange.objects.count() == 1


# ---------------------------------------------------------------------------------------- model validation and configuration as code


def test_model_validation_refuses_other_variables():
    source = Source(slug="s", kind="github", name="S", token_env="DATABASE_URL")

    with pytest.raises(ValidationError) as refused:
        source.full_clean()

    assert "token_env" in refused.value.message_dict


CONFIG_SOURCE = {"slug": "github-mozilla", "kind": "github", "name": "GitHub", "base_url": "https://api.github.com",
                 "token_env": "BALOO_TOKEN_GITHUB"}


@pytest.mark.parametrize(
    ("changes", "says"),
    [({"token_env": "DJANGO_SECRET_KEY"}, "start with BALOO_TOKEN_"), ({"token_env": ["BALOO_TOKEN_GITHUB"]}, "must be a text"),
     ({"base_url": "http://169.254.169.254"}, "link-local"), ({"base_url": "gopher://example.org"}, "only http and https")],
)
def test_configuration_as_code_refuses_them_too(changes, says):
    with pytest.raises(ConfigError, match=says):
        config_load(config={"sources": [{**CONFIG_SOURCE, **changes}]})

    assert not Source.objects.exists()


def test_load_config_changes_are_audited(tmp_path):
    path = tmp_path / "baloo.json"
    path.write_text('{"sources": [{"slug": "github-mozilla", "kind": "github", "name": "GitHub", "token_env": "BALOO_TOKEN_GITHUB"}]}')
    call_command("load_config", str(path), stdout=StringIO())
    call_command("load_config", str(path), stdout=StringIO())
    config_load(config={"sources": [{**CONFIG_SOURCE, "token_env": "BALOO_TOKEN_GH_POOL"}]})

    rows = list(SourceConnectionChange.objects.order_by("id").values_list("field", "old_value", "new_value", "via", "by"))
    assert rows == [
        ("token_env", "", "BALOO_TOKEN_GITHUB", "config", None),
        ("base_url", "", "https://api.github.com", "config", None),
        ("token_env", "BALOO_TOKEN_GITHUB", "BALOO_TOKEN_GH_POOL", "config", None),
    ]



def test_staff_cannot_switch_a_sources_kind_to_send_its_key_to_another_system(staff_client):
    """With an empty base URL, the kind picks the connector's default host: Bugzilla's key must not
    be sent to GitHub because a staff member changed the kind."""
    bmo = Source.objects.create(slug="bmo", kind="bugzilla", name="BMO", token_env="BALOO_TOKEN_BUGZILLA", options={"products": ["Firefox"]})

    response = staff_client.post(
        reverse("admin:activities_source_change", args=[bmo.pk]), form_data(bmo, kind="github", options='{"repos": ["example/app"]}')
    )

    bmo.refresh_from_db()
    assert response.status_code == 302 and bmo.kind == "bugzilla"
    assert not SourceConnectionChange.objects.exists()


def test_an_administrator_changing_a_kind_is_audited(admin_client, admin_user):
    bmo = Source.objects.create(slug="bmo", kind="bugzilla", name="BMO", token_env="BALOO_TOKEN_BUGZILLA", options={"products": ["Firefox"]})

    admin_client.post(
        reverse("admin:activities_source_change", args=[bmo.pk]),
        {**form_data(bmo, kind="github", options='{"repos": ["example/app"]}'), "token_env": "BALOO_TOKEN_BUGZILLA"},
    )

    bmo.refresh_from_db()
    change = SourceConnectionChange.objects.get()
    assert bmo.kind == "github"
    assert (change.field, change.old_value, change.new_value, change.by) == ("kind", "bugzilla", "github", admin_user)


# ---------------------------------------------------------------------------------------- a git source's repository


@pytest.fixture
def repository(tmp_path, settings):
    """A repository git sources may read by path (the only allowed directory), with one commit."""
    settings.BALOO_GIT_ALLOWED_PATHS = [str(tmp_path / "repos")]
    settings.BALOO_GIT_WORKDIR = str(tmp_path / "work")
    repo = GitRepo(tmp_path / "repos" / "app")
    repo.commit("First")
    return repo


@pytest.fixture
def git_source(repository) -> Source:
    return Source.objects.create(slug="git-app", kind="git", name="App", options={"url": str(repository.path)})


def git_form_data(source: Source | None, **options) -> dict:
    data = {"name": "App", "enabled": "on", "schedule_minutes": "60", "account_namespace": "",
            "options": json.dumps({"url": source.options["url"] if source else None, **options})}
    return data if source else {**data, "slug": "git-new", "kind": "git"}


GIT_URL_REFUSED = "Only an administrator can set or change the url of a git source"


def test_staff_cannot_point_a_git_source_at_another_port_of_an_allowed_host_then_sync_it(staff_client, git_source, attacker):
    """127.0.0.1 is allowed for a local service on one port; the attacker's listens on another (an
    internal Redis, a metadata proxy): a git URL reaches any port of an allowed host."""
    change = reverse("admin:activities_source_change", args=[git_source.pk])
    elsewhere = attacker.url.replace("http://", "https://") + "/app.git"

    response = staff_client.post(change, git_form_data(git_source, url=elsewhere))
    staff_client.post(reverse("admin:activities_sourcehealth_changelist"), {"action": "sync_now", "_selected_action": [git_source.pk]})

    assert response.status_code == 200 and GIT_URL_REFUSED in response.content.decode()
    git_source.refresh_from_db()
    assert git_source.options == {"url": git_source.options["url"]} and "127.0.0.1" not in git_source.options["url"]
    run = SyncRun.objects.get(source=git_source)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == 1  # the repository it was given, nothing else
    assert attacker.requests == []
    assert not SourceConnectionChange.objects.exists()


@pytest.mark.parametrize("options", [{"url": "https://127.0.0.1:6379/app.git"}, {"url": "/srv/other"}, {"url": None},
                                     {"url": ["https://127.0.0.1:6379/app.git"]}])
def test_staff_cannot_change_or_remove_a_git_sources_url_even_by_a_forged_post(staff_client, git_source, options):
    stored = dict(git_source.options)

    response = staff_client.post(reverse("admin:activities_source_change", args=[git_source.pk]),
                                 {**git_form_data(git_source), "options": json.dumps(options)})

    assert response.status_code == 200 and GIT_URL_REFUSED in response.content.decode()
    git_source.refresh_from_db()
    assert git_source.options == stored
    assert not SourceConnectionChange.objects.exists()


def test_staff_cannot_add_a_git_source_that_fetches_from_a_url_of_their_choosing(staff_client, repository):
    response = staff_client.post(reverse("admin:activities_source_add"), git_form_data(None, url=str(repository.path)))

    assert response.status_code == 200 and GIT_URL_REFUSED in response.content.decode()
    assert not Source.objects.filter(slug="git-new").exists()
    # Without a url, staff add it; an administrator gives it its repository.
    response = staff_client.post(reverse("admin:activities_source_add"), {**git_form_data(None), "options": "{}"})
    assert response.status_code == 302 and Source.objects.get(slug="git-new").options == {}
    assert not SourceConnectionChange.objects.exists()


def test_staff_still_change_a_git_sources_other_options(staff_client, git_source):
    response = staff_client.post(reverse("admin:activities_source_change", args=[git_source.pk]),
                                 git_form_data(git_source, branches=["main"], merges=True))

    assert response.status_code == 302
    git_source.refresh_from_db()
    assert git_source.options == {"url": git_source.options["url"], "branches": ["main"], "merges": True}
    assert not SourceConnectionChange.objects.exists()


def test_an_administrator_changing_a_git_sources_url_is_audited(admin_client, admin_user, git_source, repository):
    before = git_source.options["url"]
    moved = GitRepo(repository.path.parent / "moved")
    moved.commit("First elsewhere")

    connection = {"kind": "git", "base_url": "", "token_env": ""}  # the fields only an administrator changes

    response = admin_client.post(reverse("admin:activities_source_change", args=[git_source.pk]),
                                 {**git_form_data(git_source, url=str(moved.path)), **connection})

    assert response.status_code == 302
    change = SourceConnectionChange.objects.get()
    assert (change.field, change.old_value, change.new_value, change.by, change.via) == (
        "git_url", before, str(moved.path), admin_user, "admin")
    again = admin_client.post(reverse("admin:activities_source_change", args=[git_source.pk]),
                              {**git_form_data(Source.objects.get(pk=git_source.pk), merges=True), **connection})
    assert again.status_code == 302
    assert SourceConnectionChange.objects.count() == 1, "changing another option records nothing"


def test_load_config_audits_a_git_sources_url(tmp_path):
    git = {"slug": "git-app", "kind": "git", "name": "App", "options": {"url": "https://git.example.org/app.git"}}
    config_load(config={"sources": [git]})
    config_load(config={"sources": [{**git, "options": {"url": "https://git.example.org/app.git", "merges": True}}]})
    config_load(config={"sources": [{**git, "options": {"url": "https://git.example.org/" + "a" * 600}}]})

    rows = list(SourceConnectionChange.objects.order_by("id").values_list("field", "old_value", "new_value", "via"))
    assert rows[0] == ("git_url", "", "https://git.example.org/app.git", "config")
    assert len(rows) == 2 and rows[1][1] == "https://git.example.org/app.git"
    assert len(rows[1][2]) == 500 and rows[1][2].endswith("…")  # cut to what the audit holds
