"""The sync service around connectors: schedule, lock, tasks, the sync_sources command, the admin health pages."""

from datetime import timedelta
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from django.urls import reverse
from django.utils import timezone

from activities.models import Activity, Source, SourceToken, SyncRun, SyncState
from activities.sync import source_sync, syncs_claim_due
from activities.tasks import enqueue_due_syncs, sync_source

from .builders import github_repo
from .standin import FakeGitHub, Server

pytestmark = pytest.mark.django_db


@pytest.fixture
def api():
    return FakeGitHub()


@pytest.fixture
def source(api):
    github_repo(api, "example/app", issues=12, pulls=3, comments=7, commits=4)
    with Server(api) as url:
        yield Source.objects.create(slug="github-example", kind="github", name="GitHub", base_url=url,
                                    options={"repos": ["example/app"], "backoff_seconds": 0}, schedule_minutes=30)


def test_due_sources_are_claimed_once_per_period(source):
    Source.objects.create(slug="events-import", kind="events", name="Events")  # no connector: never scheduled
    Source.objects.create(slug="paused", kind="github", name="Paused", enabled=False)

    assert syncs_claim_due() == ["github-example"]
    assert syncs_claim_due() == []
    assert syncs_claim_due(now=timezone.now() + timedelta(minutes=31)) == ["github-example"]


def test_the_beat_task_enqueues_due_syncs_which_run(source, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        assert enqueue_due_syncs() == ["github-example"]

    run = SyncRun.objects.get(source=source)
    assert run.status == SyncRun.Status.SUCCEEDED and run.created == Activity.objects.count() > 0
    state = SyncState.objects.get(source=source)
    assert state.next_sync_at > run.finished_at + timedelta(minutes=29)
    assert state.lock_owner == "" and state.locked_until is None


def test_the_task_treats_a_gone_source_as_nothing_to_do():
    assert sync_source("no-such-source") is None


def test_the_task_reports_a_rate_limited_run_when_run_in_process(source, api):
    api.rate_limit = api.remaining = 1
    api.reset_at = int((timezone.now() + timedelta(hours=1)).timestamp())
    summary = sync_source("github-example")
    assert summary["status"] == SyncRun.Status.DEFERRED and summary["resume_at"]


def test_in_a_worker_the_task_reschedules_itself_for_the_reset(source, api, monkeypatch):
    api.rate_limit = api.remaining = 1
    api.reset_at = int((timezone.now() + timedelta(hours=1)).timestamp())
    retries = []

    def retry(**kwargs):
        retries.append(kwargs)
        return RuntimeError("retry")

    monkeypatch.setattr(sync_source, "retry", retry)
    sync_source.push_request(called_directly=False, is_eager=False)
    try:
        with pytest.raises(RuntimeError, match="retry"):
            sync_source.run("github-example")
    finally:
        sync_source.pop_request()
    assert 3590 <= retries[0]["countdown"] <= 3610


def test_a_source_never_syncs_twice_at_once(source):
    SyncState.objects.create(source=source, lock_owner="another-worker", locked_until=timezone.now() + timedelta(minutes=5))
    run = source_sync(source=source)
    assert run.status == SyncRun.Status.SKIPPED and "running" in run.error
    assert not Activity.objects.exists()


def test_sync_sources_command(source):
    out = StringIO()
    call_command("sync_sources", "github-example", stdout=out)
    assert "github-example: succeeded" in out.getvalue()
    call_command("sync_sources", "--all", stdout=out)
    assert "0 created" in out.getvalue()
    assert SyncRun.objects.filter(trigger="command").count() == 2


def test_sync_sources_command_errors(source):
    Source.objects.create(slug="events-import", kind="events", name="Events")
    with pytest.raises(CommandError, match="--all"):
        call_command("sync_sources")
    with pytest.raises(CommandError, match="Unknown source"):
        call_command("sync_sources", "nope")
    with pytest.raises(CommandError, match="No connector"):
        call_command("sync_sources", "events-import")


def test_sync_sources_command_fails_on_a_failed_sync(source, api):
    api.repos.clear()
    with pytest.raises(CommandError, match="github-example"):
        call_command("sync_sources", "github-example", stdout=StringIO())


def test_admin_shows_each_source_health_and_the_run_log(admin_client, source, api):
    source_sync(source=source)
    api.repos.clear()
    source_sync(source=source)

    health = admin_client.get(reverse("admin:activities_sourcehealth_changelist"))
    assert health.status_code == 200
    assert b"github-example" in health.content and b"repository not found" in health.content
    detail = admin_client.get(reverse("admin:activities_sourcehealth_change", args=[source.pk]))
    assert detail.status_code == 200
    runs = admin_client.get(reverse("admin:activities_syncrun_changelist"))
    assert runs.status_code == 200 and runs.content.count(b"GitHub") >= 2


def test_admin_start_over_and_sync_now(admin_client, source):
    source_sync(source=source)
    url = reverse("admin:activities_sourcehealth_changelist")
    admin_client.post(url, {"action": "start_over", "_selected_action": [source.pk]})
    assert SyncState.objects.get(source=source).checkpoint == {}
    admin_client.post(url, {"action": "sync_now", "_selected_action": [source.pk]})
    assert SyncRun.objects.filter(trigger="admin").get().duplicate > 0


def test_admin_creates_a_token_and_shows_it_once(admin_client, source):
    response = admin_client.post(reverse("admin:activities_sourcetoken_add"), {"source": source.pk, "name": "Reps portal"}, follow=True)

    assert response.status_code == 200
    token = SourceToken.objects.get()
    shown = [str(message) for message in response.context["messages"]]
    assert any(token.prefix in message and "never shown again" in message for message in shown)
    listing = admin_client.get(reverse("admin:activities_sourcetoken_changelist"))
    assert token.prefix.encode() in listing.content
