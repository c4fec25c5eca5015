"""The de-duplication check: which of these e-mails and user names are known, and which are one person."""

import datetime
from typing import Any

from django.utils import timezone
from drf_spectacular.utils import extend_schema, inline_serializer
from rest_framework import serializers
from rest_framework.permissions import IsAuthenticated
from rest_framework.renderers import BrowsableAPIRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response
from rest_framework.utils import html

from accounts.permissions import SeesEveryArea, SeesPeople

from ..query import EARLIEST_DAY, LATEST_DAY, out_of_range_message
from ..schema import staff_responses
from .base import StaffAPIView
from .selectors import dedup_check


class FormDateField(serializers.DateField):
    """A date that, in a form as in JSON, is either given and valid or left out: an empty one is refused
    (Django REST framework would take an empty form field for a missing one)."""

    def get_value(self, dictionary: Any) -> Any:
        if html.is_html_input(dictionary) and dictionary.get(self.field_name) == "":
            return ""
        return super().get_value(dictionary)


class TextField(serializers.CharField):
    """Text only: a number is refused, not read as its digits (Django REST framework would take 692 for "692")."""

    def to_internal_value(self, data: Any) -> str:
        if not isinstance(data, str):
            self.fail("invalid")
        return super().to_internal_value(data)


class DedupRequestSerializer(serializers.Serializer):
    keys = serializers.ListField(
        child=TextField(max_length=400), min_length=1, max_length=1000,
        help_text="E-mail addresses (`ann@example.org`) or source user names (`github-mozilla:ann`).",
    )
    date = FormDateField(required=False, help_text="The date for “active” (default: today, UTC), from 1970-01-01 to 2999-12-31.")

    def validate_date(self, value: datetime.date) -> datetime.date:
        # Refused as in a query (api.query.EARLIEST_DAY): "active" reaches a year back from the date.
        if not EARLIEST_DAY <= value <= LATEST_DAY:
            raise serializers.ValidationError(out_of_range_message())
        return value


@extend_schema(
    tags=["staff"],
    request=DedupRequestSerializer,
    responses=staff_responses(inline_serializer(
        "DedupCheck",
        {
            "date": serializers.DateField(),
            "results": inline_serializer(
                "DedupResult",
                {
                    "key": serializers.CharField(),
                    "kind": serializers.ChoiceField(choices=["email", "username"], allow_null=True),
                    "known": serializers.BooleanField(),
                    "person": serializers.IntegerField(allow_null=True),
                    "areas": serializers.ListField(child=serializers.CharField(), help_text="Areas where the person is active at the date."),
                    "error": serializers.CharField(required=False),
                },
                many=True,
            ),
            "same_person": inline_serializer(
                "DedupGroup", {"person": serializers.IntegerField(), "keys": serializers.ListField(child=serializers.CharField())}, many=True
            ),
        },
    )),
)
class DedupCheckView(StaffAPIView):
    """De-duplication check: which of these e-mails and user names are known, and which are one person."""

    # It answers about anyone at all, so it is not narrowed to a builder's areas: staff only.
    permission_classes = [IsAuthenticated, SeesPeople, SeesEveryArea]
    renderer_classes = [JSONRenderer, BrowsableAPIRenderer]

    def post(self, request: Request) -> Response:
        payload = DedupRequestSerializer(data=request.data)
        payload.is_valid(raise_exception=True)
        day = payload.validated_data.get("date") or timezone.now().astimezone(datetime.UTC).date()
        return Response(dedup_check(keys=payload.validated_data["keys"], day=day))
