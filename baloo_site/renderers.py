"""The one CSV renderer (`?format=csv`) of both APIs: the public metrics API and the staff API.

Every cell goes through `baloo_site.spreadsheet.csv_writer`: names, titles and identities are typed
by people outside, and no cell may run as a formula in a spreadsheet. It sits here, among the
project's library modules (they import no app), because the metrics API's app is below `api` in
the dependency order and may not import from it.

djangorestframework-csv was weighed and not used: its last release (3.0.2) is from December 2023
and declares nothing about Django or Python past 3.11; what it adds is flattening nested JSON into
dotted columns (`points.0.date`), which is not the shape of our CSVs (CONTRACTS.md §5: one row per
point, columns named by us); and it writes with `csv.writer` inside `render`, so keeping the
formula protection would mean overriding the very method that is all it does.
"""

import io
from collections.abc import Iterator
from typing import Any

from rest_framework.renderers import BaseRenderer

from baloo_site.spreadsheet import csv_writer


class CSVRenderer(BaseRenderer):
    """The same data as the JSON, as CSV: the view flattens it (`view.csv_rows(data)` gives the header
    and the rows). An error (status 400 and up) is an `error` column, one message a row, each after
    the parameter or field it is about."""

    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: dict | None = None) -> bytes:
        context = renderer_context or {}
        response = context.get("response")
        if response is not None and response.status_code >= 400:
            header, rows = ["error"], [[message] for message in error_messages(data)]
        else:
            header, rows = context["view"].csv_rows(data)
        buffer = io.StringIO()
        writer = csv_writer(buffer, lineterminator="\n")  # messages quote parameters people typed
        writer.writerow(header)
        writer.writerows(rows)
        return buffer.getvalue().encode(self.charset)


def error_messages(data: Any, name: str = "") -> Iterator[str]:
    """An error body's messages, one a line, each after the parameter or field it is about."""
    if isinstance(data, dict):
        for key, value in data.items():
            about = name if key in ("detail", "non_field_errors") else f"{name}.{key}" if name else str(key)
            yield from error_messages(value, about)
    elif isinstance(data, list):
        for item in data:
            yield from error_messages(item, name)
    else:
        yield f"{name}: {data}" if name else str(data)
