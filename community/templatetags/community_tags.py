"""The links every page carries: where to report a problem or suggest an idea."""

from django import template
from django.conf import settings

register = template.Library()


@register.simple_tag
def issue_tracker_url() -> str:
    """The issue tracker's address (the `BALOO_ISSUE_TRACKER_URL` setting)."""
    return settings.BALOO_ISSUE_TRACKER_URL
