"""The shape of an activity type, shared by ingestion, configuration and the admin."""

import re

# <system>.<object>.<action>, lowercase; a longer path (github.pull_request.review.submitted) is fine.
ACTIVITY_TYPE_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+){2,}$")


def is_activity_type(value: object) -> bool:
    return isinstance(value, str) and bool(ACTIVITY_TYPE_PATTERN.match(value))
