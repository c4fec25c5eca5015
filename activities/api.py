"""The push API: other systems report activities as they happen (`POST /api/v1/activities/`).

Authentication is a per-source token (`Authorization: Bearer <token>`), created in the admin.
The body is a JSON array of at most 1,000 activity records of the common schema, each a JSON
object naming the token's source. The answer says how many were created and which indexes were
rejected, and why. Every answer, errors included, is JSON.
"""

from http import HTTPStatus

import orjson
from django.conf import settings
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .services import activities_ingest, rejected_items_resolve
from .tokens import bearer_secret, source_token_authenticate

MAX_RECORDS = 1000
# 1,000 records of a few kilobytes each; a larger body is refused before it is read.
MAX_BODY_BYTES = settings.BALOO_PUSH_MAX_BYTES


def _error(status: HTTPStatus, message: str, **headers: str) -> JsonResponse:
    response = JsonResponse({"error": message}, status=status)
    for name, value in headers.items():
        response[name.replace("_", "-")] = value
    return response


def _json_type(value: object) -> str:
    if isinstance(value, bool):
        return "true/false"
    if isinstance(value, (int, float)):
        return "a number"
    return {str: "a string", list: "a list"}.get(type(value), "null")


def _body(request: HttpRequest) -> bytes | None:
    """The request body, read at most one byte past MAX_BODY_BYTES (so a larger one is told by its
    size); None when it is sent chunked and the server in front cannot hand it over whole."""
    if request.headers.get("Content-Length") or "chunked" not in request.headers.get("Transfer-Encoding", "").lower():
        # Past Django's in-memory limit ourselves, bounded: the body is never read beyond the limit.
        return request.read(MAX_BODY_BYTES + 1)
    # Chunked, without a length: Django reads such a body as empty, but a server that decodes it
    # (gunicorn, as the Procfile runs) says so in `wsgi.input_terminated` and ends the stream with it.
    if not request.META.get("wsgi.input_terminated"):
        return None
    stream = request.META["wsgi.input"]
    parts, size = [], 0
    while size <= MAX_BODY_BYTES and (part := stream.read(MAX_BODY_BYTES + 1 - size)):
        parts.append(part)
        size += len(part)
    return b"".join(parts)


@csrf_exempt
def activities_push(request: HttpRequest) -> JsonResponse:
    if request.method != "POST":
        return _error(HTTPStatus.METHOD_NOT_ALLOWED, "Use POST with a JSON array of activity records.", Allow="POST")
    token = source_token_authenticate(secret=bearer_secret(request.headers.get("Authorization", "")))
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
    body = _body(request)
    if body is None:
        return _error(HTTPStatus.LENGTH_REQUIRED, "Send the body with a Content-Length header: this server cannot read a chunked body.")
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
        # Only objects are handed over, each naming this token's source (or none, which is then
        # refused as missing): the ingestion would decode a string as a record of any source.
        if not isinstance(record, dict):
            rejected.append({"index": index, "reason": f"a record must be a JSON object, not {_json_type(record)}"})
        elif record.get("source") not in (None, "") and not (isinstance(record["source"], str) and record["source"].strip() == slug):
            rejected.append({"index": index, "reason": f"source {str(record['source'])[:100]!r} is not this token's source {slug!r}"})
        else:
            accepted.append((index, record))
    result = activities_ingest(records=accepted, links_accounts=token.source.links_accounts)
    # A pushed record may be an item a sync or a webhook rejected earlier: stored now, it is not rejected.
    rejected_items_resolve(
        source=token.source, external_ids=(str(record.get("external_id") or "").strip() for _index, record in accepted)
    )
    rejected.extend({"index": rejection.position, "reason": rejection.reason} for rejection in result.rejected)
    rejected.sort(key=lambda rejection: rejection["index"])
    return JsonResponse({"created": result.created, "duplicate": result.duplicate, "rejected": rejected})
