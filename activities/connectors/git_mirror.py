"""A git source's bare mirror, and git run safely for it: where it may fetch from, and how.

The worker keeps one bare repository per source under `BALOO_GIT_WORKDIR` (default `var/git/`),
fetched incrementally: only the branches the source reads, never tags. git runs as a subprocess,
never through a shell, with a clean environment: no system or global configuration, an empty home,
no credential helper, no terminal prompt, no proxy but the environment's `HTTPS_PROXY`.

Where a fetch may go (the rules of activities/outbound.py, applied to git):
- an `https` URL, whose host's every address is public unless the operator lists the host in
  `BALOO_SOURCE_ALLOWED_HOSTS`; git connects to the very address that was checked
  (`http.curloptResolve`), so a name that resolves elsewhere a moment later (DNS rebinding) changes
  nothing, and follows no redirect (`http.followRedirects=false`);
- an absolute local path that resolves (symbolic links followed) inside a directory the operator
  lists in `BALOO_GIT_ALLOWED_PATHS`; none is allowed when the setting is empty;
- nothing else: `ssh://`, `git://`, `file://`, `http://`, `ext::` and every other transport are
  refused (`protocol.allow=never`), and no value ever starts with `-` where git reads options.

`GitClient` counts fetches as `requests_made` and fetches that brought nothing new as
`not_modified`, the way the sync service reads an HTTP client.
"""

import fcntl
import hashlib
import ipaddress
import os
import re
import shutil
import signal
import subprocess
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import requests
from django.conf import settings

from activities.outbound import OutboundRefused, remote_text, target_resolve, url_problem, url_shown

from .http import SourceError

# Variables passed on to git from the worker's environment: where to find programs, and a proxy the
# operator set (through a proxy the address check still applies, the pin cannot: the proxy resolves).
PASSED_VARIABLES = ("PATH", "HTTPS_PROXY", "https_proxy", "NO_PROXY", "no_proxy")
# A fetch that stalls below 1 kB/s for a minute is given up (git's own low-speed limit).
LOW_SPEED = ("-c", "http.lowSpeedLimit=1000", "-c", "http.lowSpeedTime=60")
# git's object names: SHA-1 (40 hex digits) or SHA-256 (64).
OBJECT_NAME = re.compile(rb"^(?:[0-9a-f]{40}|[0-9a-f]{64})$")
# Lines of git's own error message kept for the run record.
ERROR_LINES = 3
READ_SIZE = 1 << 16


@dataclass(frozen=True)
class Remote:
    """Where a source's repository is: an https URL or a checked local path, as git is given it."""

    location: str
    protocol: str  # "https" or "file"
    shown: str  # for messages: the URL without query, or the path

    @property
    def key(self) -> str:
        """A short name for this remote's mirror: another URL is another mirror."""
        return hashlib.sha256(self.location.encode()).hexdigest()[:16]


def remote_https(url: str) -> Remote:
    problem = url_problem(url)
    if problem:
        raise SourceError(f"option `url`: {problem}")
    return Remote(location=url, protocol="https", shown=url_shown(url))


def remote_local(path: str) -> Remote:
    """A local repository, if it resolves inside a directory of `BALOO_GIT_ALLOWED_PATHS`."""
    allowed = [os.path.realpath(entry.strip()) for entry in settings.BALOO_GIT_ALLOWED_PATHS
               if entry.strip() and os.path.isabs(entry.strip())]
    if not allowed:
        raise SourceError(f"option `url`: {remote_text(path, limit=200)} is a local path, and no local path is allowed "
                          "(the operator lists the directories git sources may read in BALOO_GIT_ALLOWED_PATHS)")
    real = os.path.realpath(path)
    inside = [directory for directory in allowed if os.path.commonpath([real, directory]) == directory]
    if not inside:
        raise SourceError(f"option `url`: {remote_text(path, limit=200)} is not inside a directory listed in "
                          "BALOO_GIT_ALLOWED_PATHS (symbolic links are followed before the check)")
    if not os.path.isdir(real):
        raise SourceError(f"option `url`: {remote_text(path, limit=200)} is not a directory")
    # A repository can send git elsewhere: a `.git` file names another directory, `alternates` more
    # object stores. Each must stay inside the allowed directories too.
    dot_git = os.path.join(real, ".git")
    if os.path.lexists(dot_git) and not os.path.isdir(dot_git):
        raise SourceError(f"option `url`: {remote_text(path, limit=200)} has a `.git` file pointing elsewhere; "
                          "name the repository's own directory")
    git_dir = os.path.realpath(dot_git) if os.path.isdir(dot_git) else real
    for alternate in _alternates(git_dir):
        target = os.path.realpath(os.path.join(git_dir, "objects", alternate))
        if not any(os.path.commonpath([target, directory]) == directory for directory in allowed):
            raise SourceError(f"option `url`: {remote_text(path, limit=200)} borrows objects from outside "
                              "BALOO_GIT_ALLOWED_PATHS (objects/info/alternates)")
    return Remote(location=real, protocol="file", shown=remote_text(path, limit=200))


def _alternates(git_dir: str) -> list[str]:
    try:
        with open(os.path.join(git_dir, "objects", "info", "alternates"), encoding="utf-8", errors="replace") as lines:
            return [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    except OSError:
        return []


def workdir() -> Path:
    configured = settings.BALOO_GIT_WORKDIR
    return Path(configured) if configured else Path(settings.BASE_DIR) / "var" / "git"


class GitClient:
    """git for one source's mirror: fetch its branches, stream its log. Counts fetches like requests."""

    def __init__(self, *, slug: str, remote: Remote, timeout: float) -> None:
        if not re.fullmatch(r"[A-Za-z0-9_-]{1,100}", slug):
            raise SourceError(f"source slug {slug!r} cannot name a directory")
        self.remote = remote
        self.timeout = timeout
        self.root = workdir() / slug
        self.mirror = self.root / f"{remote.key}.git"
        self.requests_made = 0
        self.not_modified = 0

    # -- running git

    def _environment(self) -> dict[str, str]:
        home = workdir() / ".home"  # empty: no ~/.gitconfig, no ~/.git-credentials, no ~/.ssh
        home.mkdir(parents=True, exist_ok=True)
        environment = {name: os.environ[name] for name in PASSED_VARIABLES if name in os.environ}
        environment.setdefault("PATH", os.defpath)
        environment.update({
            "HOME": str(home), "XDG_CONFIG_HOME": str(home), "LC_ALL": "C", "LANG": "C",
            "GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "GIT_TERMINAL_PROMPT": "0",
            "GIT_ALLOW_PROTOCOL": self.remote.protocol, "GIT_DIR": str(self.mirror),
        })
        return environment

    def _command(self, *args: str) -> list[str]:
        return [
            "git", "-c", "protocol.allow=never", "-c", f"protocol.{self.remote.protocol}.allow=always",
            "-c", "http.followRedirects=false", "-c", "credential.helper=", "-c", "core.askPass=",
            "-c", "core.hooksPath=/dev/null", "-c", "gc.autoDetach=false", "-c", "i18n.logOutputEncoding=UTF-8",
            f"--git-dir={self.mirror}", *args,
        ]

    def _run(self, *args: str, config: tuple[str, ...] = (), stdin: bytes | None = None, timeout: float | None = None) -> bytes:
        """Run git and return its output; a failure or a timeout is a `SourceError` quoting git's words."""
        process = subprocess.Popen(
            self._command(*config, *args), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self._environment(), cwd=self.root, start_new_session=True,
        )
        try:
            out, err = process.communicate(stdin, timeout=timeout or self.timeout)
        except subprocess.TimeoutExpired:
            _kill(process)
            raise SourceError(f"git {args[0]} of {self.remote.shown} took longer than {timeout or self.timeout:.0f} s; "
                              "it was stopped (option `fetch_timeout_seconds`)") from None
        finally:
            if process.poll() is None:
                _kill(process)
        if process.returncode != 0:
            raise SourceError(f"git {args[0]} of {self.remote.shown} failed: {_said(err)}")
        return out

    # -- the mirror

    @contextmanager
    def locked(self) -> Iterator[None]:
        """The mirror, for this process alone (another worker's sync of the same source waits for nothing: it stops)."""
        self.root.mkdir(parents=True, exist_ok=True)
        with open(self.root / ".lock", "w") as lock:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                raise SourceError("another sync of this source is using its git mirror") from None
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def fetch(self, refspecs: dict[str, str]) -> dict[str, str]:
        """Fetch the remote's refs into the mirror (`{remote ref: mirror ref}`); the tips, by mirror ref."""
        if not (self.mirror / "HEAD").exists():
            self._forget_other_mirrors()
            self._run("init", "--bare", "--quiet", str(self.mirror))
        before = self.tips(list(refspecs.values()))
        transport: tuple[str, ...] = ()
        if self.remote.protocol == "https":
            transport = ("-c", f"http.curloptResolve={self._pinned()}", *LOW_SPEED)
        self.requests_made += 1
        self._run("fetch", "--quiet", "--no-tags", "--no-write-fetch-head", "--no-recurse-submodules",
                  "--", self.remote.location, *(f"+{remote}:{local}" for remote, local in refspecs.items()),
                  config=transport)
        after = self.tips(list(refspecs.values()))
        if after == before:
            self.not_modified += 1
        return after

    def _pinned(self) -> str:
        """`host:port:address` for curl: the address checked by the outbound rules, the one git connects to."""
        try:
            target = target_resolve(self.remote.location)
        except OutboundRefused as refused:
            raise SourceError(str(refused)) from None
        except requests.ConnectionError as error:
            raise SourceError(str(error)) from None
        address = f"[{target.address}]" if ipaddress.ip_address(target.address).version == 6 else target.address
        host = urlsplit(self.remote.location).hostname or target.host
        return f"{host}:{target.port}:{address}"

    def _forget_other_mirrors(self) -> None:
        """A source whose URL changed has a new mirror: the old one (another key) is removed."""
        for entry in self.root.glob("*.git"):
            if entry != self.mirror:
                shutil.rmtree(entry, ignore_errors=True)

    def tips(self, refs: list[str]) -> dict[str, str]:
        """The commit each of `refs` names in the mirror (missing ones left out)."""
        if not refs or not (self.mirror / "HEAD").exists():
            return {}
        out = self._run("for-each-ref", "--format=%(objectname) %(refname)", *refs)
        found = dict(reversed(line.split(" ", 1)) for line in out.decode().splitlines() if " " in line)
        return {ref: found[ref] for ref in refs if ref in found}

    def existing(self, names: list[str]) -> list[str]:
        """Those of `names` (object names) that are commits in the mirror."""
        names = [name for name in names if OBJECT_NAME.match(name.encode())]
        if not names:
            return []
        out = self._run("cat-file", "--batch-check=%(objectname) %(objecttype)", stdin="".join(f"{n}\n" for n in names).encode())
        return [line.split(" ")[0] for line in out.decode().splitlines() if line.endswith(" commit")]

    def commits_counted(self, tips: list[str], *, paths: list[str], merges: bool) -> int:
        """How many commits the history of `tips` holds (non-merge ones unless `merges`), under `paths`."""
        tips = [name for name in tips if OBJECT_NAME.match(name.encode())]
        if not tips:
            return 0
        out = self._run("rev-list", "--count", *([] if merges else ["--no-merges"]), *tips, "--", *paths)
        return int(out.decode().strip() or 0)

    # -- reading the history

    def log(self, args: list[str], *, mailmap_ref: str | None = None) -> Iterator[bytes]:
        """Stream `git log -z` (one entry per commit: its format's lines), never holding the log in memory.

        `mailmap_ref`: the ref whose `.mailmap` rewrites names and e-mails (with `--use-mailmap`).
        Stopping early (closing the generator) ends git at once.
        """
        mailmap = ["-c", f"mailmap.blob={mailmap_ref}:.mailmap"] if mailmap_ref else []
        with tempfile.TemporaryFile() as errors:
            process = subprocess.Popen(
                self._command(*mailmap, "log", "-z", *args), stdin=subprocess.DEVNULL, stdout=subprocess.PIPE, stderr=errors,
                env=self._environment(), cwd=self.root, start_new_session=True, bufsize=0,
            )
            try:
                rest = b""
                while chunk := process.stdout.read(READ_SIZE):
                    entries = (rest + chunk).split(b"\0")
                    rest = entries.pop()
                    yield from entries
                if rest:
                    yield rest
                if process.wait() != 0:
                    errors.seek(0)
                    raise SourceError(f"git log of {self.remote.shown} failed: {_said(errors.read())}")
            finally:
                if process.poll() is None:
                    _kill(process)
                process.stdout.close()


def _kill(process: subprocess.Popen) -> None:
    """End git and whatever it started (remote helpers, index-pack): they share its process group."""
    try:
        os.killpg(process.pid, signal.SIGKILL)
    except ProcessLookupError:
        pass
    process.wait()


# What a remote server writes itself (git's `remote:` lines, a smart-HTTP `ERR` packet) is never kept.
REMOTE_WORDS = ("remote:", "remote error:")


def _said(stderr: bytes) -> str:
    """git's own words about a failure, without anything the remote server wrote."""
    lines = [line for line in stderr.decode("utf-8", "replace").splitlines() if line.strip()]
    lines = [line for line in lines if not any(words in line.lower() for words in REMOTE_WORDS)]
    return remote_text(" / ".join(lines[:ERROR_LINES]) or "no message", limit=300)
