"""The rows of a partitioned run, read once and split by share, so that no part scans the whole table.

A part that fetched its own share (`fetch_rows(share=…)`) would make PostgreSQL scan every activity
and join each to its identity to find the share's persons: K parts, K scans of the whole table, and
time that did not fall with the workers (at 10M activities on 2 cores, 8.8 s of fetching for one
part and 11 s each for two side by side). So the plan reads every row once (`rows_split`): one
binary COPY into a file beside the cache, each row resolved to its person now, and each share's rows
written to a file of its own, a chunk at a time (the memory of a chunk, not of every row). A part
reads its file (`rows_of_share`) when it sees the same who-is-who as the split; otherwise (a merge
in between, a folder not shared, a split that failed) it fetches its share itself, as before.
"""

from __future__ import annotations

import logging
import os
from collections.abc import Iterable, Iterator
from pathlib import Path

import numpy as np

from baloo_site.bulk import is_postgresql

from .fetch import COPY_ROW, People, Rules, copied_columns, fetch_rows, rows_copied_count, rows_copy

logger = logging.getLogger(__name__)

# A share's rows on disk: (conversion point number, identity id, UTC day), 14 bytes each.
ROW = np.dtype([("cp", "<i2"), ("identity", "<i8"), ("day", "<i4")])
# Rows resolved and written at a time: the temporaries of a chunk take about 0.2 GB.
CHUNK_ROWS = 4_000_000


def share_file(folder: Path, share: int) -> Path:
    return folder / f"share-{int(share)}.rows"


def rows_read(rules: Rules, *, upto: int, folder: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Read every row up to `upto` now (in the caller's snapshot); returns them as chunks of (cp,
    identity, day) to split later, outside the snapshot: on PostgreSQL from a binary COPY written to a
    file and read back a chunk at a time (removed once read), elsewhere in one chunk."""
    if not is_postgresql():
        return iter([fetch_rows(rules, upto=upto)])
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "all.copy"
    try:
        with open(path, "wb") as handle:
            rows_copy(rules, handle, upto=upto)
    except BaseException:
        path.unlink(missing_ok=True)
        raise
    return _copied_chunks(path)


def _copied_chunks(path: Path) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    try:
        left = rows_copied_count(path.stat().st_size)
        with open(path, "rb") as handle:
            handle.seek(19)  # the binary COPY's header
            while left > 0:
                rows = np.fromfile(handle, dtype=COPY_ROW, count=min(CHUNK_ROWS, left))
                if not len(rows):
                    raise OSError(f"{path} ended {left} rows early")
                left -= len(rows)
                yield copied_columns(rows)
                del rows
    finally:
        path.unlink(missing_ok=True)


def rows_split(
    chunks: Iterable[tuple[np.ndarray, np.ndarray, np.ndarray]], people: People, *, shares: int, folder: Path
) -> list[int]:
    """Write each share's rows (from `rows_read`; persons as `people` say, read in the same snapshot)
    to its file in `folder`; returns how many rows each share got."""
    folder.mkdir(parents=True, exist_ok=True)
    temporary = {share: share_file(folder, share).with_suffix(".tmp") for share in range(shares)}
    handles = {share: open(path, "wb") for share, path in temporary.items()}  # noqa: SIM115
    counts = [0] * shares
    try:
        for cp, identity, day in chunks:
            person = people.persons_of(identity)
            # Rows of identities gone are counted by no one (`People.contributions`): left out here too.
            share_of = np.where(person >= 0, person % shares, -1)
            for share, mine in enumerate(_by_share(share_of, shares)):
                rows = np.empty(len(mine), dtype=ROW)
                rows["cp"], rows["identity"], rows["day"] = cp[mine], identity[mine], day[mine]
                rows.tofile(handles[share])
                counts[share] += len(rows)
            del cp, identity, day, person, share_of
        for share, handle in handles.items():
            handle.close()
            os.replace(temporary[share], share_file(folder, share))
    finally:
        for share, handle in handles.items():
            handle.close()
            temporary[share].unlink(missing_ok=True)
    return counts


def _by_share(share_of: np.ndarray, shares: int) -> Iterator[np.ndarray]:
    """The positions of each share's rows, share 0 first: a pass per share when they are few, else one sort."""
    if shares <= 16:
        for share in range(shares):
            yield np.flatnonzero(share_of == share)
        return
    order = np.argsort(share_of, kind="stable")
    bounds = np.searchsorted(share_of[order], np.arange(shares + 1))
    for share in range(shares):
        yield order[bounds[share] : bounds[share + 1]]


def rows_of_share(folder: Path, share: int, count: int) -> tuple[np.ndarray, np.ndarray, np.ndarray] | None:
    """The `count` rows `rows_split` wrote for this share, as `fetch_rows` gives them; None if they are
    not there to read (another machine's folder, removed, or not as many as written)."""
    path = share_file(folder, share)
    try:
        if path.stat().st_size != count * ROW.itemsize:
            return None
        rows = np.fromfile(path, dtype=ROW)
    except OSError:
        return None
    return rows["cp"].astype(np.int16), rows["identity"].astype(np.int64), rows["day"].astype(np.int32)
