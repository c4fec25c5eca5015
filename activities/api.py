"""The push API: other systems report activities as they happen (`POST /api/v1/activities/`).

Authentication is a per-source token (`Authorization: Bearer <token>`), created in the admin.
The body is a JSON array of at most 1,000 activity records of the common schema, each naming the
token's source. The answer says how many were created and which indexes were rejected, and why.
Every answer, errors included, is JSON.
"""

from http import HTTPStatus

import orjson
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from conversion_points.metrics import metrics_recompute_soon

from .services import activities_ingest
from .tokens import source_token_authenticate

MAX_RECORDS = 1000
# 1,000 records of a few kilobytes each; a larger body is refused before it is read.
MAX_BODY_BYTES = settings.BALOO_PUSH_MAX_BYTES


def _error(status: HTTPStatus, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _bearer(request: HttpRequest) -> str:
    scheme, _, secret = request.headers.get("Authorization", "").partition(" ")
    return secret.strip() if scheme.lower() in ("bearer", "token") else ""


@csrf_exempt
def activities_push(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, "Use POST with a JSON array of activity records.", Allow="POST")
    token = source_token_authenticate(secret=_bearer(request))
    if token is None:
        return _error(
            HTTPStatus.UNAUTHORIZED, "A valid API token is required: Authorization: Bearer <token> (tokens are created in the admin).",
            WWW_Authenticate='Bearer realm="baloo"',
        )
    if request.content_type != "application/json":
        return _error(HTTPStatus.UNSUPPORTED_MEDIA_TYPE, f"Send JSON (Content-Type: application/json), not {request.content_type or 'nothing'}.")
    try:
        declared = int(request.headers.get("Content-Length") or 0)
    except ValueError:
        declared = 0
    too_large = f"The body is larger than {MAX_BODY_BYTES:,} bytes; send at most {MAX_RECORDS:,} records per request."
    if declared > MAX_BODY_BYTES:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
    # Read past Django's in-memory limit ourselves, bounded: the body is never read beyond the limit.
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, too_large)
    try:
        records = orjson.loads(body)
    except orjson.JSONDecodeError as error:
        return _error(HTTPStatus.BAD_REQUEST, f"The body is not valid JSON ({error}).")
    if not isinstance(records, list):
        return _error(HTTPStatus.BAD_REQUEST, "The body must be a JSON array of activity records.")
    if len(records) > MAX_RECORDS:
        return _error(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, f"{len(records):,} records; send at most {MAX_RECORDS:,} per request.")

    slug = token.source.slug
    rejected = []
    accepted = []
    for index, record in enumerate(records):
        if isinstance(record, dict) and record.get("source") not in (None, "", slug):
            rejected.append({"index": index, "reason": f"source {record.get('source')!r} is not this token's source {slug!r}"})
        else:
            accepted.append((index, record))
    result = activities_ingest(records=accepted, links_accounts=token.source.links_accounts)
    rejected.extend({"index": rejection.position, "reason": rejection.reason} for rejection in result.rejected)
    rejected.sort(key=lambda rejection: rejection["index"])
    if result.created:
        # New activity reaches the counts within about a minute: many pushes share one queued recompute.
        metrics_recompute_soon()
    return JsonResponse({"created": result.created, "duplicate": result.duplicate, "rejected": rejected})
