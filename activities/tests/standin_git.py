"""Real git repositories built in a temporary directory: the "API" a git source reads is git itself.

Not a `StandIn` (no HTTP server): the connector reads local paths inside `BALOO_GIT_ALLOWED_PATHS`
with the system `git`, exactly as it reads an operator's repository. Commits get fixed dates and
UTC offsets, authors and committers of the test's choosing; `fast_import` writes thousands of
commits in one process (the tests' long histories and bench/git_sync.py's 200,000).
"""

import os
import subprocess
from collections.abc import Callable, Iterator
from pathlib import Path

# git run for building, never reading the test runner's own configuration.
CLEAN = {"GIT_CONFIG_NOSYSTEM": "1", "GIT_CONFIG_GLOBAL": os.devnull, "HOME": "/nonexistent", "LC_ALL": "C"}


class GitRepo:
    """A repository with a working tree at `path`, on branch `main`."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.path.mkdir(parents=True, exist_ok=True)
        self.git("init", "--quiet", "--initial-branch=main")
        self.counter = 0

    def git(self, *args: str, env: dict | None = None, stdin: bytes | None = None) -> str:
        result = subprocess.run(["git", *args], cwd=self.path, env={"PATH": os.environ["PATH"], **CLEAN, **(env or {})},
                                input=stdin, capture_output=True, check=True)
        return result.stdout.decode().strip()

    def commit(self, message: str = "", *, author: tuple[str, str] = ("Ann Example", "ann@example.org"),
               when: str = "2024-03-01T10:00:00+05:30", committer: tuple[str, str] | None = None,
               committed: str | None = None, path: str | None = None) -> str:
        """A commit changing one file (`path`, by default a file of its own); its sha."""
        self.counter += 1
        target = self.path / (path or f"file-{self.counter}.txt")
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(f"{message} {self.counter}\n")
        self.git("add", "--all")
        committer = committer or author
        self.git("commit", "--quiet", "--allow-empty-message", "-m", message or f"change {self.counter}", env={
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": committer[0], "GIT_COMMITTER_EMAIL": committer[1], "GIT_COMMITTER_DATE": committed or when,
        })
        return self.head()

    def raw_commit(self, header: str, message: str = "odd commit") -> str:
        """A commit object written as given (an empty e-mail, a date git cannot read), on top of the branch."""
        tree = self.git("write-tree")
        text = f"tree {tree}\nparent {self.head()}\n{header}\n\n{message}\n"
        sha = self.git("hash-object", "-t", "commit", "-w", "--literally", "--stdin", stdin=text.encode())
        self.git("update-ref", "HEAD", sha)
        return sha

    def merge(self, branch: str, *, author: tuple[str, str] = ("Mia Merger", "mia@example.org"),
              when: str = "2024-03-05T09:00:00-08:00") -> str:
        self.git("merge", "--quiet", "--no-ff", "--no-edit", branch, env={
            "GIT_AUTHOR_NAME": author[0], "GIT_AUTHOR_EMAIL": author[1], "GIT_AUTHOR_DATE": when,
            "GIT_COMMITTER_NAME": author[0], "GIT_COMMITTER_EMAIL": author[1], "GIT_COMMITTER_DATE": when,
        })
        return self.head()

    def checkout(self, branch: str, *, new: bool = False, start: str | None = None) -> None:
        self.git("checkout", "--quiet", *(["-b"] if new else []), branch, *([start] if start else []))

    def head(self) -> str:
        return self.git("rev-parse", "HEAD")

    def fast_import(self, count: int, **kwargs) -> None:
        """`count` more commits on the current branch, written by `git fast-import` (see `fast_import_stream`)."""
        branch = self.git("symbolic-ref", "HEAD")
        parent = self.git("rev-parse", "--verify", "--quiet", "HEAD") if self._has_commits() else ""
        process = subprocess.Popen(["git", "fast-import", "--quiet", "--done"], cwd=self.path, stdin=subprocess.PIPE,
                                   env={"PATH": os.environ["PATH"], **CLEAN})
        for chunk in fast_import_stream(count, ref=branch, parent=parent, **kwargs):
            process.stdin.write(chunk)
        process.stdin.close()
        if process.wait() != 0:
            raise RuntimeError("git fast-import failed")
        self.git("reset", "--quiet", "--hard")

    def _has_commits(self) -> bool:
        return subprocess.run(["git", "rev-parse", "--verify", "--quiet", "HEAD"], cwd=self.path, capture_output=True,
                              env={"PATH": os.environ["PATH"], **CLEAN}).returncode == 0


def fast_import_stream(count: int, *, ref: str, parent: str = "", start: int = 1_600_000_000, first: int = 0,
                       people: int = 1_000, author: Callable[[int], tuple[str, str]] | None = None) -> Iterator[bytes]:
    """A `git fast-import` stream of `count` commits on `ref`, one minute apart from `start` (Unix time),
    each changing one of 5,000 small files; authors from `people` generated ones (every seventh commit committed by another)."""
    author = author or (lambda n: (f"Person {n % people}", f"person{n % people}@example.org"))
    offsets = ("+0000", "+0530", "-0800", "+0200", "+0900")
    yield b"feature done\n"
    for index in range(first, first + count):
        name, email = author(index)
        moment = start + 60 * index
        offset = offsets[index % len(offsets)]
        committer = (name, email) if index % 7 else ("Release Bot", "release@example.org")
        message = f"Change {index}\n".encode()
        body = f"change {index}\n".encode()
        chunk = [
            f"commit {ref}\n".encode(),
            f"author {name} <{email}> {moment} {offset}\n".encode(),
            f"committer {committer[0]} <{committer[1]}> {moment + 30} {offset}\n".encode(),
            f"data {len(message)}\n".encode() + message,
        ]
        if index == first and parent:
            chunk.append(f"from {parent}\n".encode())
        # A bounded set of files (5,000), so trees stay small however long the history.
        chunk.append(f"M 100644 inline d{index % 100}/f{index % 50}.txt\ndata {len(body)}\n".encode() + body + b"\n")
        yield b"".join(chunk)
    yield b"done\n"
