"""git sync: real repositories built with `git` in temporary directories, read by local path."""

import os
import subprocess
from collections import Counter

import orjson
import pytest

import activities.sync
from activities.connectors.git import GitConnector
from activities.models import Activity, RejectedItem, Source, SyncRun, SyncState
from activities.sync import source_sync, source_sync_restart

from .standin_git import GitRepo

pytestmark = pytest.mark.django_db

ANN = ("Ann Example", "ann@example.org")
BOB = ("Bob Beispiel", "bob@example.org")
CY = ("Cy Committer", "cy@example.org")


@pytest.fixture
def allowed(tmp_path, settings):
    """Repositories live in tmp/repos, the only directory git sources may read; mirrors in tmp/work."""
    repos = tmp_path / "repos"
    repos.mkdir()
    settings.BALOO_GIT_ALLOWED_PATHS = [str(repos)]
    settings.BALOO_GIT_WORKDIR = str(tmp_path / "work")
    return repos


@pytest.fixture
def repo(allowed):
    return GitRepo(allowed / "app")


def make_source(url: str, **options) -> Source:
    return Source.objects.create(slug="git-app", kind="git", name="App", options={"url": url, **options}, schedule_minutes=60)


def stored(source: Source) -> Counter:
    return Counter(Activity.objects.filter(source=source).values_list("type", flat=True))


def actor_of(external_id: str) -> str:
    return Activity.objects.get(external_id=external_id).identity.value


def history(repo: GitRepo) -> dict[str, str]:
    """A small history: offsets east and west of UTC, a commit committed by someone else, a merge of a side branch."""
    shas = {"first": repo.commit("First", author=ANN, when="2024-03-01T10:00:00+05:30")}
    shas["bob"] = repo.commit("Bob's", author=BOB, when="2024-03-02T08:00:00-08:00", committer=CY,
                              committed="2024-03-03T12:00:00+01:00")
    repo.checkout("side", new=True)
    shas["side"] = repo.commit("Side", author=CY, when="2024-03-04T09:00:00+00:00")
    repo.checkout("main")
    shas["merge"] = repo.merge("side")
    return shas


def test_a_first_sync_stores_each_commit_with_its_author_and_the_offset_of_its_date(repo):
    shas = history(repo)
    source = make_source(str(repo.path))

    run = source_sync(source=source)

    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert stored(source) == Counter({"git.commit.authored": 3, "git.commit.committed": 1})
    first = Activity.objects.get(external_id=f"commit:{shas['first']}")
    assert (first.identity.value, first.container, first.title) == ("ann@example.org", "app", "First")
    assert first.occurred_at.isoformat() == "2024-03-01T04:30:00+00:00"
    assert Activity.objects.get(external_id=f"commit:{shas['bob']}").occurred_at.isoformat() == "2024-03-02T16:00:00+00:00"
    committed = Activity.objects.get(external_id=f"committed:{shas['bob']}")
    assert (committed.identity.value, committed.occurred_at.isoformat()) == ("cy@example.org", "2024-03-03T11:00:00+00:00")
    assert not Activity.objects.filter(external_id__startswith="merge:").exists()
    assert (run.requests, run.not_modified) == (1, 0)


def test_the_next_sync_reads_only_new_commits_and_nothing_new_costs_one_fetch(repo):
    history(repo)
    source = make_source(str(repo.path))
    source_sync(source=source)

    unchanged = source_sync(source=source)
    new = [repo.commit("Later", author=BOB, when="2024-04-01T10:00:00-08:00") for _ in range(2)]
    later = source_sync(source=source)

    assert (unchanged.status, unchanged.requests, unchanged.not_modified, unchanged.created, unchanged.duplicate) == (
        SyncRun.Status.SUCCEEDED, 1, 1, 0, 0)
    assert (later.requests, later.not_modified, later.created, later.duplicate) == (1, 0, 2, 0)
    assert {f"commit:{sha}" for sha in new} <= set(Activity.objects.values_list("external_id", flat=True))


def test_merges_branches_and_path_filters_are_options(repo):
    shas = history(repo)
    repo.checkout("docs", new=True, start=shas["first"])
    docs = repo.commit("Docs", author=BOB, when="2024-03-06T10:00:00+02:00", path="docs/guide.txt")
    repo.checkout("main")
    code = repo.commit("Code", author=ANN, when="2024-03-07T10:00:00+02:00", path="src/app.txt")

    merges = make_source(str(repo.path), merges=True)
    merges_run = source_sync(source=merges)
    assert merges_run.status == SyncRun.Status.SUCCEEDED, merges_run.error
    merge = Activity.objects.get(source=merges, external_id=f"merge:{shas['merge']}")
    assert (merge.type, merge.identity.value, merge.data["parents"][1]) == ("git.merge.authored", "mia@example.org", shas["side"])
    assert merge.occurred_at.isoformat() == "2024-03-05T17:00:00+00:00"

    both = Source.objects.create(slug="git-docs", kind="git", name="Docs", options={
        "url": str(repo.path), "branches": ["main", "docs"], "paths": ["docs", "src/app.txt"], "container": "example/app"})
    run = source_sync(source=both)
    assert run.status == SyncRun.Status.SUCCEEDED, run.error
    assert set(Activity.objects.filter(source=both).values_list("external_id", "container")) == {
        (f"commit:{docs}", "example/app"), (f"commit:{code}", "example/app")}


def test_a_branch_the_repository_does_not_have_fails_the_run_saying_so(repo):
    history(repo)
    run = source_sync(source=make_source(str(repo.path), branches=["main", "nope"]))

    assert run.status == SyncRun.Status.FAILED
    assert "nope" in run.error and not Activity.objects.exists()


def test_mailmap_is_honoured_only_when_asked(repo):
    repo.commit("Old address", author=("ann", "ann@old.example.org"), when="2024-03-01T10:00:00Z")
    (repo.path / ".mailmap").write_text("Ann Example <ann@example.org> <ann@old.example.org>\n")
    mailmapped = repo.commit("Mailmap", author=ANN, when="2024-03-02T10:00:00Z")
    as_written = make_source(str(repo.path))
    asked = Source.objects.create(slug="git-mailmap", kind="git", name="Mailmap", options={"url": str(repo.path), "mailmap": True})

    source_sync(source=as_written)
    source_sync(source=asked)

    def emails(source: Source) -> set[str]:
        return set(Activity.objects.filter(source=source).values_list("identity__value", flat=True))

    assert emails(as_written) == {"ann@old.example.org", "ann@example.org"}
    assert emails(asked) == {"ann@example.org"}
    assert mailmapped


def test_a_sync_killed_between_pages_resumes_with_no_gap_and_no_double(repo, monkeypatch):
    repo.fast_import(40)
    source = make_source(str(repo.path), page_size=3)
    monkeypatch.setattr(activities.sync, "COMMIT_RECORDS", 6)
    read = GitConnector._commit_records
    calls = {"n": 0}

    def killed_after_20_commits(self, *args):
        calls["n"] += 1
        if calls["n"] > 20:
            raise KeyboardInterrupt("the worker was killed")  # not an Exception: nothing more is committed
        return read(self, *args)

    monkeypatch.setattr(GitConnector, "_commit_records", killed_after_20_commits)
    with pytest.raises(KeyboardInterrupt):
        source_sync(source=source)
    partial = Activity.objects.filter(source=source).count()
    # Pages are committed in batches of 6 records; the last commits of the batch in flight are read again.
    assert 0 < partial < 46

    monkeypatch.setattr(GitConnector, "_commit_records", read)
    activities.sync.SyncState.objects.filter(source=source).update(lock_owner="", locked_until=None)
    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED, resumed.error
    assert stored(source) == Counter({"git.commit.authored": 40, "git.commit.committed": 6})
    assert resumed.created == 46 - partial and resumed.duplicate == 0


def test_a_failure_mid_walk_keeps_what_was_committed_and_the_next_run_finishes(repo, monkeypatch):
    repo.fast_import(30)
    source = make_source(str(repo.path), page_size=4)
    monkeypatch.setattr(activities.sync, "COMMIT_RECORDS", 4)
    real_log = GitConnector._walk

    def failing_walk(self, state, walk):
        for number, page in enumerate(real_log(self, state, walk)):
            if number == 3:
                raise activities.sync.SourceError("git log of app failed: fatal: the mirror went away")
            yield page

    monkeypatch.setattr(GitConnector, "_walk", failing_walk)
    failed = source_sync(source=source)
    monkeypatch.setattr(GitConnector, "_walk", real_log)
    resumed = source_sync(source=source)

    assert failed.status == SyncRun.Status.FAILED and "mirror went away" in failed.error
    assert failed.created > 0
    assert resumed.status == SyncRun.Status.SUCCEEDED
    assert failed.created + resumed.created == Activity.objects.filter(source=source).count() == 30 + 5
    assert resumed.duplicate == 0


def test_a_force_push_loses_nothing_and_doubles_nothing(repo):
    base = repo.commit("Base", author=ANN, when="2024-03-01T10:00:00Z")
    dropped = repo.commit("Dropped later", author=BOB, when="2024-03-02T10:00:00Z")
    source = make_source(str(repo.path))
    source_sync(source=source)

    repo.git("reset", "--quiet", "--hard", base)
    rewritten = repo.commit("Rewritten", author=BOB, when="2024-03-03T10:00:00Z")
    run = source_sync(source=source)

    assert (run.status, run.created, run.duplicate) == (SyncRun.Status.SUCCEEDED, 1, 0)
    ids = set(Activity.objects.values_list("external_id", flat=True))
    assert ids == {f"commit:{base}", f"commit:{dropped}", f"commit:{rewritten}"}  # the dropped commit stays


def test_starting_over_or_changing_the_path_filter_reads_everything_again_and_doubles_nothing(repo):
    history(repo)
    source = make_source(str(repo.path))
    source_sync(source=source)

    source_sync_restart(source=source)
    again = source_sync(source=source)
    source.options = {**source.options, "paths": ["file-1.txt"]}
    source.save()
    filtered = source_sync(source=source)

    assert (again.created, again.duplicate) == (0, 4)
    assert (filtered.created, filtered.duplicate) == (0, 1)


def test_commits_without_an_author_or_a_readable_date_are_rejected_once_with_a_reason(repo):
    repo.commit("Fine", author=ANN, when="2024-03-01T10:00:00Z")
    no_mail = repo.raw_commit("author Nobody <> 1700000000 +0000\ncommitter Nobody <> 1700000000 +0000")
    nobody = repo.raw_commit("author <> 1700000000 +0000\ncommitter <> 1700000000 +0000")
    bad_date = repo.raw_commit("author Ann <ann@example.org> yesterday\ncommitter Ann <ann@example.org> 1700000000 +0000")
    future = repo.commit("Future", author=BOB, when="2090-01-01T00:00:00+00:00")
    web_flow = repo.commit("Edited on github.com", author=BOB, when="2024-03-05T10:00:00Z",
                           committer=("GitHub", "noreply@github.com"))
    no_address = repo.commit("No address", author=("Eve", "(none)"), when="2024-03-06T10:00:00Z")
    source = make_source(str(repo.path))

    first = source_sync(source=source)
    source_sync_restart(source=source)
    again = source_sync(source=source)

    assert first.status == SyncRun.Status.SUCCEEDED, first.error
    reasons = {sample["external_id"]: sample["reason"] for sample in first.rejections}
    assert reasons[f"commit:{no_mail}"] == "no e-mail address"
    assert reasons[f"commit:{nobody}"] == "no author named"
    assert reasons[f"commit:{bad_date}"] == "no time given"
    assert reasons[f"commit:{future}"] == "dated in the future"
    assert reasons[f"committed:{web_flow}"] == "committed by a system account (GitHub's web-flow)"
    assert "not an e-mail address" in reasons[f"commit:{no_address}"]  # the ingestion service's own reason
    assert not RejectedItem.objects.get(external_id=f"commit:{future}").lasting
    assert RejectedItem.objects.get(external_id=f"commit:{nobody}").lasting
    # Read again after "Start over", only the malformed record counts again (ingestion rejects it each time).
    assert again.rejected == 1
    assert set(Activity.objects.values_list("type", flat=True)) == {"git.commit.authored"}
    assert Activity.objects.get(external_id=f"commit:{web_flow}").identity.value == "bob@example.org"


def test_the_payload_keeps_ids_and_times_not_other_peoples_names_or_addresses(repo):
    shas = history(repo)
    source = make_source(str(repo.path), merges=True)
    source_sync(source=source)

    for activity in Activity.objects.filter(source=source):
        assert set(activity.data) <= {"sha", "parents", "committed_at", "authored_at"}
        text = orjson.dumps(activity.data).decode()
        assert "@" not in text and "Ann" not in text and "Cy" not in text and "Bob" not in text
    assert Activity.objects.get(external_id=f"committed:{shas['bob']}").data == {
        "sha": shas["bob"], "authored_at": "2024-03-02T08:00:00-08:00"}


@pytest.mark.parametrize("url, says", [
    ("ssh://git@github.com/mdn/content.git", "ssh:// is refused"),
    ("git://github.com/mdn/content.git", "git:// is refused"),
    ("file:///etc", "file:// is refused"),
    ("http://github.com/mdn/content.git", "http:// is refused"),
    ("ext::sh -c touch% /tmp/pwned", "transport helpers"),
    ("fd::3", "transport helpers"),
    ("--upload-pack=touch /tmp/pwned", "may not start with '-'"),
    ("git@github.com:mdn/content.git", "ssh addresses"),
    ("relative/path", "absolute local path"),
    ("https://user:secret@github.com/mdn/content.git", "user name or password"),
    ("https://github.com/mdn/content.git?x=1", "without a query"),
    ("https://github.com/mdn/content\n.git", "control characters"),
])
def test_every_transport_but_https_and_allowed_local_paths_is_refused(allowed, url, says):
    run = source_sync(source=make_source(url))

    assert run.status == SyncRun.Status.FAILED
    assert says in run.error, run.error
    assert run.requests == 0
    assert not (allowed.parent / "work" / "git-app").exists()


def test_an_https_url_to_an_internal_address_is_refused_before_any_fetch(allowed, settings):
    settings.BALOO_SOURCE_ALLOWED_HOSTS = []
    for url, why in [("https://127.0.0.1/app.git", "loopback"), ("https://10.1.2.3/app.git", "private"),
                     ("https://169.254.169.254/latest.git", "link-local"), ("https://localhost/app.git", "loopback")]:
        Source.objects.filter(slug="git-app").delete()
        run = source_sync(source=make_source(url))
        assert run.status == SyncRun.Status.FAILED and why in run.error, run.error
        assert run.requests == 0


def test_an_https_fetch_goes_to_the_checked_address_with_no_redirect_and_no_credentials(allowed, settings, monkeypatch):
    settings.BALOO_SOURCE_ALLOWED_HOSTS = []
    monkeypatch.setenv("GIT_SSH_COMMAND", "touch /tmp/pwned")
    monkeypatch.setattr("activities.outbound.socket.getaddrinfo",
                        lambda host, port, **kwargs: [(2, 1, 6, "", ("93.184.216.34", port))])
    seen = []
    real_popen = subprocess.Popen

    def recording_popen(argv, **kwargs):
        seen.append((argv, kwargs["env"]))
        if "fetch" in argv:
            argv = ["false"]  # no network here: the fetch fails, after showing how it would have run
        return real_popen(argv, **kwargs)

    monkeypatch.setattr("activities.connectors.git_mirror.subprocess.Popen", recording_popen)

    run = source_sync(source=make_source("https://git.example.org/team/app.git"))

    argv, env = next((argv, env) for argv, env in seen if "fetch" in argv)
    assert run.status == SyncRun.Status.FAILED and "git fetch of https://git.example.org/team/app.git failed" in run.error
    assert "http.curloptResolve=git.example.org:443:93.184.216.34" in argv
    for setting in ("protocol.allow=never", "protocol.https.allow=always", "http.followRedirects=false", "credential.helper="):
        assert setting in argv
    assert argv[argv.index("--") + 1] == "https://git.example.org/team/app.git"
    assert env["GIT_CONFIG_NOSYSTEM"] == "1" and env["GIT_CONFIG_GLOBAL"] == os.devnull
    assert env["GIT_TERMINAL_PROMPT"] == "0" and env["GIT_ALLOW_PROTOCOL"] == "https"
    assert "GIT_SSH_COMMAND" not in env and env["HOME"] != os.environ.get("HOME")


def test_a_local_path_outside_the_allowed_directories_is_refused_even_through_a_symlink(allowed, tmp_path, settings):
    outside = GitRepo(tmp_path / "outside")
    outside.commit("Secret", author=ANN)
    (allowed / "link").symlink_to(outside.path)

    through_link = source_sync(source=make_source(str(allowed / "link")))
    Source.objects.all().delete()
    dotdot = source_sync(source=make_source(f"{allowed}/../outside"))
    Source.objects.all().delete()
    settings.BALOO_GIT_ALLOWED_PATHS = []
    none_allowed = source_sync(source=make_source(str(outside.path)))

    for run in (through_link, dotdot):
        assert run.status == SyncRun.Status.FAILED and "not inside a directory listed in BALOO_GIT_ALLOWED_PATHS" in run.error
    assert "no local path is allowed" in none_allowed.error
    assert not Activity.objects.exists()


def test_a_repository_pointing_outside_the_allowed_directories_is_refused(allowed, tmp_path):
    outside = GitRepo(tmp_path / "outside")
    outside.commit("Secret", author=ANN)
    borrower = allowed / "borrower.git"
    subprocess.run(["git", "init", "--quiet", "--bare", str(borrower)], check=True)
    (borrower / "objects" / "info" / "alternates").write_text(str(outside.path / ".git" / "objects") + "\n")
    pointer = allowed / "pointer"
    pointer.mkdir()
    (pointer / ".git").write_text(f"gitdir: {outside.path / '.git'}\n")

    borrowing = source_sync(source=make_source(str(borrower)))
    Source.objects.all().delete()
    pointing = source_sync(source=make_source(str(pointer)))

    assert "borrows objects from outside" in borrowing.error
    assert "`.git` file" in pointing.error


@pytest.mark.parametrize("options, says", [
    ({"branches": ["--upload-pack=touch /tmp/pwned"]}, "option `branches`"),
    ({"branches": ["main..evil"]}, "option `branches`"),
    ({"branches": "main"}, "option `branches` must be a list"),
    ({"paths": ["-p"]}, "option `paths`"),
    ({"paths": ["../../etc/passwd"]}, "option `paths`"),
    ({"paths": [":(attr)x"]}, "option `paths`"),
    ({"merges": "yes"}, "option `merges` must be true or false"),
    ({"mailmap": 1}, "option `mailmap` must be true or false"),
    ({"page_size": True}, "option `page_size`"),
    ({"fetch_timeout_seconds": 100_000}, "option `fetch_timeout_seconds`"),
    ({"container": 5}, "option `container`"),
    ({"commit_url": "javascript:alert(1)//{sha}"}, "option `commit_url`"),
    ({"repos": ["mdn/content"]}, "unknown option `repos`"),
    ({"url": None}, "option `url` is missing"),
])
def test_hostile_or_mistyped_options_fail_the_run_naming_the_option(repo, options, says):
    repo.commit("One", author=ANN)
    source = Source.objects.create(slug="git-app", kind="git", name="App", options={"url": str(repo.path), **options})
    run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED
    assert says in run.error, run.error
    assert not Activity.objects.exists()


def test_a_directory_that_is_no_repository_fails_the_run_with_gits_reason(allowed):
    (allowed / "empty").mkdir()
    run = source_sync(source=make_source(str(allowed / "empty")))

    assert run.status == SyncRun.Status.FAILED
    assert "git fetch of" in run.error and "does not appear to be a git repository" in run.error


def test_commit_links_on_known_hosts_and_as_the_option_writes_them(repo):
    sha = repo.commit("One", author=ANN)
    source = make_source(str(repo.path), commit_url="https://git.example.org/app/commit/{sha}")
    source_sync(source=source)

    assert Activity.objects.get(external_id=f"commit:{sha}").url == f"https://git.example.org/app/commit/{sha}"
    from activities.connectors.git import default_commit_url, repository_name
    assert default_commit_url("https://github.com/mdn/content.git") == "https://github.com/mdn/content/commit/{sha}"
    assert repository_name("https://github.com/mdn/content.git") == "mdn/content"
    assert repository_name("/srv/git/app.git") == "app"


def test_a_commit_dated_in_the_future_is_stored_once_its_day_has_come(repo, monkeypatch):
    from datetime import timedelta

    from django.utils import timezone

    soon = (timezone.now() + timedelta(days=2)).replace(microsecond=0)
    sha = repo.commit("Clock ahead", author=ANN, when=soon.isoformat())
    source = make_source(str(repo.path))
    early = source_sync(source=source)
    real_now = timezone.now
    monkeypatch.setattr(timezone, "now", lambda: real_now() + timedelta(days=3))
    later = source_sync(source=source)

    assert early.rejections == [{"external_id": f"commit:{sha}", "reason": "dated in the future"}]
    assert (later.created, later.requests) == (1, 1)
    assert not RejectedItem.objects.exists()


def test_a_checkpoint_that_no_longer_matches_its_walk_reads_the_walk_again_and_doubles_nothing(repo, monkeypatch):
    repo.fast_import(12)
    source = make_source(str(repo.path), page_size=5)
    monkeypatch.setattr(activities.sync, "COMMIT_RECORDS", 5)
    walk = GitConnector._walk

    def stopped_after_one_page(self, state, walk_state):
        pages = walk(self, state, walk_state)
        yield next(pages)
        yield next(pages)
        raise activities.sync.SourceError("stopped")

    monkeypatch.setattr(GitConnector, "_walk", stopped_after_one_page)
    source_sync(source=source)
    monkeypatch.setattr(GitConnector, "_walk", walk)
    state = activities.sync.SyncState.objects.get(source=source)
    assert state.checkpoint["walk"]["count"] == 10
    state.checkpoint["walk"]["last"] = "0" * 40  # what a rewritten history would give at that place
    state.save()
    before = Activity.objects.filter(source=source).count()

    resumed = source_sync(source=source)

    assert resumed.status == SyncRun.Status.SUCCEEDED
    # Read from the start: what was stored comes again as duplicates, the rest is stored; 12 commits, 2 by another committer.
    assert (resumed.created, resumed.duplicate) == (14 - before, before)
    assert Activity.objects.filter(source=source).count() == 14


def test_two_syncs_never_share_a_mirror(repo, allowed):
    import fcntl

    repo.commit("One", author=ANN)
    source = make_source(str(repo.path))
    lock_path = allowed.parent / "work" / "git-app" / ".lock"
    lock_path.parent.mkdir(parents=True)
    with open(lock_path, "w") as held:
        fcntl.flock(held, fcntl.LOCK_EX)
        run = source_sync(source=source)

    assert run.status == SyncRun.Status.FAILED and "another sync of this source is using its git mirror" in run.error
    assert source_sync(source=source).created == 1


def test_a_fetch_that_takes_too_long_is_stopped_with_everything_it_started(repo, tmp_path, monkeypatch):
    repo.commit("One", author=ANN)
    slow = tmp_path / "bin"
    slow.mkdir()
    marker = tmp_path / "still-running"
    real_git = subprocess.run(["which", "git"], capture_output=True, text=True).stdout.strip()
    (slow / "git").write_text(
        "#!/bin/sh\ncase \" $* \" in *\" fetch \"*) "
        f"(sleep 3; touch {marker}) & wait ;; esac\nexec {real_git} \"$@\"\n")
    (slow / "git").chmod(0o755)
    monkeypatch.setenv("PATH", f"{slow}:{os.environ['PATH']}")
    import time

    started = time.monotonic()
    run = source_sync(source=make_source(str(repo.path), fetch_timeout_seconds=1))
    took = time.monotonic() - started
    time.sleep(3)

    assert run.status == SyncRun.Status.FAILED and "took longer than 1 s; it was stopped" in run.error
    assert took < 3
    assert not marker.exists()  # the fetch's own children were stopped too


def test_the_history_s_own_commit_count_is_kept_for_the_data_quality_page(repo):
    history(repo)
    source = make_source(str(repo.path))

    source_sync(source=source)

    total = SyncState.objects.get(source=source).source_totals["commit"]
    # Three commits that are not merges, as git counts them; three `commit:` activities stored.
    assert (total["reported"], total["stored"], total["rejected"]) == (3, 3, 0)


def test_what_a_remote_server_writes_never_reaches_the_run_record():
    from activities.connectors.git_mirror import _said

    said = _said(b"remote: ann.secret@example.org said no\nfatal: remote error: token abc123 for ann\n"
                 b"fatal: unable to access 'https://git.example/app.git/': The requested URL returned error: 403\n")
    assert "ann" not in said and "abc123" not in said
    assert "unable to access" in said
