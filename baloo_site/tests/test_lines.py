"""Reading a file line by line (baloo_site/lines.py): every line ending, a byte order mark, and lines
too long to keep, whatever size the stream is read in."""

import io

import pytest

import baloo_site.lines


@pytest.mark.parametrize("data, lines", [
    (b'\xef\xbb\xbf{"a": 1}\n{"b": 2}\n', [(1, b'{"a": 1}'), (2, b'{"b": 2}')]),  # the first record was lost
    (b'{"a": 1}\r{"b": 2}\r\r{"c": 3}\r', [(1, b'{"a": 1}'), (2, b'{"b": 2}'), (4, b'{"c": 3}')]),  # was one line
    (b'\xef\xbb\xbf{"a": 1}\r\n{"b": 2}\r\n\r\n{"c": 3}', [(1, b'{"a": 1}'), (2, b'{"b": 2}'), (4, b'{"c": 3}')]),
    (b'{"a": 1}\n\r{"b": 2}\n', [(1, b'{"a": 1}'), (3, b'{"b": 2}')]),  # \n then \r: two line ends
    (b"\xef\xbb\xbf", []),
])
@pytest.mark.parametrize("chunk", [1, 2, 3, 4, 1 << 20])
def test_a_byte_order_mark_and_any_line_ending_are_read_as_text_editors_show_them(monkeypatch, chunk, data, lines):
    monkeypatch.setattr(baloo_site.lines, "READ_CHUNK", chunk)
    assert list(baloo_site.lines.read_lines(io.BytesIO(data), limit=100)) == lines


@pytest.mark.parametrize("chunk", [1, 3, 7, 64, 1 << 20])
def test_lines_are_read_whole_across_chunks_and_long_ones_only_measured(monkeypatch, chunk):
    monkeypatch.setattr(baloo_site.lines, "READ_CHUNK", chunk)
    data = b'{"a": 1}\n\n   \n' + b"x" * 25 + b'\n{"b": 2}\n' + b"y" * 30 + b"\n" + b'{"c": 3}'
    read = [
        (number, line if isinstance(line, bytes) else line.size)
        for number, line in baloo_site.lines.read_lines(io.BytesIO(data), limit=20)
    ]
    assert read == [(1, b'{"a": 1}'), (4, 25), (5, b'{"b": 2}'), (6, 30), (7, b'{"c": 3}')]
