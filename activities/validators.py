"""Shapes shared by ingestion, configuration and the admin: activity types, and what a source may name."""

import re

from django.core.exceptions import ValidationError
from django.utils.translation import gettext

from .outbound import literal_address_problem

# <system>.<object>.<action>, lowercase; a longer path (github.pull_request.review.submitted) is fine.
ACTIVITY_TYPE_PATTERN = re.compile(r"^[a-z0-9_]+(\.[a-z0-9_]+){2,}$")


def is_activity_type(value: object) -> bool:
    return isinstance(value, str) and bool(ACTIVITY_TYPE_PATTERN.match(value))


# A source reads its token only from variables named like this, never Django's or another
# setting's (DJANGO_SECRET_KEY, DATABASE_URL…): whoever sets a source's token variable and base
# URL could otherwise have any secret of the server sent to a host of their choosing.
TOKEN_ENV_PREFIX = "BALOO_TOKEN_"
TOKEN_ENV_NAME = re.compile(r"^BALOO_TOKEN_[A-Za-z0-9_]+$")


def token_env_names(value: str) -> list[str]:
    """The variable names in a source's `token_env` (comma-separated; blanks ignored)."""
    return [name.strip() for name in (value or "").split(",") if name.strip()]


def token_env_problem(value: object) -> str | None:
    """Why `value` cannot be a source's token variable(s), in words for a person; None if it can."""
    if not isinstance(value, str):
        return gettext("The token variable must be text: names of environment variables, separated by commas.")
    for name in token_env_names(value):
        if not TOKEN_ENV_NAME.match(name):
            return gettext(
                "The token variable “%(name)s” is refused: a source reads its token only from environment variables "
                "whose names start with %(prefix)s (for example %(prefix)sGITHUB), never from Django's or another setting's."
            ) % {"name": name[:100], "prefix": TOKEN_ENV_PREFIX}
    return None


def base_url_problem(value: object) -> str | None:
    """Why `value` cannot be a source's base URL, without asking DNS; None if it can (empty: the connector's default)."""
    if not isinstance(value, str):
        return gettext("The base URL must be text.")
    if not value:
        return None
    problem = literal_address_problem(value)
    if problem:
        return gettext("Base URL: %(problem)s") % {"problem": problem}
    return None


def validate_token_env(value: str) -> None:
    """Model and form validation of `Source.token_env`."""
    problem = token_env_problem(value)
    if problem:
        raise ValidationError(problem, code="token_env")


def validate_base_url(value: str) -> None:
    """Model and form validation of `Source.base_url`."""
    problem = base_url_problem(value)
    if problem:
        raise ValidationError(problem, code="base_url")
