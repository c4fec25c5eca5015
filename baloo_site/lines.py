"""Reading a large file line by line: JSON Lines imports (activities, the people directory).

A line longer than the caller's limit is never held in memory: it is measured and handed on as an
`OversizedRecord`, so that the caller can reject it by its line number like any other bad record.
"""

from collections.abc import Iterator
from dataclasses import dataclass
from typing import BinaryIO


@dataclass(slots=True, frozen=True)
class OversizedRecord:
    """Stands in for a record too large to read; only its size is known."""

    size: int


READ_CHUNK = 1 << 20
BYTE_ORDER_MARK = b"\xef\xbb\xbf"


def _chunks(stream: BinaryIO) -> Iterator[bytes]:
    """The stream a megabyte at a time, without the UTF-8 byte order mark some editors write first,
    and with every line ending (\\n, \\r\\n, or \\r alone as old Macs wrote) made \\n. JSON text holds
    no raw \\r or \\n inside a string, so one is always whitespace or the end of a line."""
    chunk = b""
    while len(chunk) < len(BYTE_ORDER_MARK) and (more := stream.read(READ_CHUNK)):
        chunk += more
    chunk = chunk.removeprefix(BYTE_ORDER_MARK)
    after_return = False  # the chunk before ended with \r: a \n opening this one ends that same line
    while True:
        if after_return or b"\r" in chunk:
            if after_return and chunk.startswith(b"\n"):
                chunk = chunk[1:]
            after_return = chunk.endswith(b"\r")
            chunk = chunk.replace(b"\r\n", b"\n").replace(b"\r", b"\n")
        if chunk:
            yield chunk
        chunk = stream.read(READ_CHUNK)
        if not chunk:
            return


def read_lines(stream: BinaryIO, *, limit: int) -> Iterator[tuple[int, bytes | OversizedRecord]]:
    """Yield (line number, line) for every non-blank line; a line longer than `limit` is yielded
    as a short note instead, without ever holding the whole line in memory. Lines end with \\n,
    \\r\\n or \\r; a byte order mark before the first is not part of it.

    The stream is read a megabyte at a time and split in C (a readline per line costs more than
    checking the line)."""
    number = 0
    begun: list[bytes] = []  # the start of a line that continues in the next chunk
    begun_size = 0  # its size so far (counted on when it is too long to keep)
    for chunk in _chunks(stream):
        *ended, unfinished = chunk.split(b"\n")
        if ended and begun_size:
            # The first line ending here began in an earlier chunk.
            size = begun_size + len(ended[0])
            whole = b"".join([*begun, ended[0]]) if size <= limit else OversizedRecord(size)
            begun, begun_size = [], 0
            number += 1
            if not isinstance(whole, bytes) or whole.strip():
                yield number, whole
            ended = ended[1:]
        for line in ended:
            number += 1
            if len(line) > limit:
                yield number, OversizedRecord(len(line))
            elif line.strip():
                yield number, line
        if unfinished:
            begun_size += len(unfinished)
            begun = [*begun, unfinished] if begun_size <= limit else []
    if begun_size:  # the last line has no newline
        number += 1
        whole = b"".join(begun) if begun_size <= limit else OversizedRecord(begun_size)
        if not isinstance(whole, bytes) or whole.strip():
            yield number, whole
