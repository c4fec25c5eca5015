"""`{% may_use_desk as flag %}`: whether to show the link to the builder's desk (admin index)."""

from typing import Any

from django import template

from ..selectors import may_use_desk as _may_use_desk

register = template.Library()


@register.simple_tag(takes_context=True)
def may_use_desk(context: dict[str, Any]) -> bool:
    request = context.get("request")
    return bool(request is not None and _may_use_desk(user=request.user))
