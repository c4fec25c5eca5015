"""GitHub webhooks (`POST /hooks/github/<source-slug>/`): live activity, signed with the source's secret.

The secret lives in the environment variable named by the source's `options["webhook_secret_env"]`
(never in the configuration file), whose name starts with `BALOO_TOKEN_` like every source secret. Deliveries are turned into the same records, with the same
external ids, as the sync makes, so a redelivery or a later sync never counts anything twice.
Events Baloo does not count, and events of a repository the source's options do not name, are
acknowledged (202) and ignored. An item stored nowhere (its author's account deleted: `user: null`)
is an explained rejection in the answer, kept once among the source's rejected items like a sync's.
"""

import hashlib
import hmac
import logging
import os
import secrets
from http import HTTPStatus

import orjson
from django.http import HttpRequest, JsonResponse
from django.views.decorators.csrf import csrf_exempt

from .connectors.base import Rejected, split_rejected
from .connectors.github import (
    comment_record,
    issue_records,
    pull_request_records,
    push_commit_record,
    review_record,
    source_repo,
)
from .models import Source
from .services import activities_ingest, rejected_items_record, rejected_items_resolve
from .validators import TOKEN_ENV_NAME, TOKEN_ENV_PREFIX

# GitHub caps webhook payloads at 25 MB.
MAX_BODY_BYTES = 25 * 1024 * 1024
# Checked against when a delivery names no source with a secret, for the same work as a real check;
# random per process, so no signature can match it.
UNKNOWN_SOURCE_SECRET = secrets.token_hex(32)
# The events that can hold activity Baloo counts; GitHub's delivery of each names its repository.
COUNTED_EVENTS = frozenset({"issues", "pull_request", "pull_request_review", "issue_comment", "pull_request_review_comment", "push"})

logger = logging.getLogger(__name__)


def github_records(source: str, event: str, payload: dict, *, repo: str) -> list[dict | Rejected] | None:
    """Activity records for one delivery of repository `repo` (spelled as the sync spells it); None for an event Baloo does not count."""
    action = payload.get("action")
    if event == "issues" and payload.get("issue") and action != "deleted":
        return issue_records(source, repo, payload["issue"])
    if event == "pull_request" and payload.get("pull_request"):
        return pull_request_records(source, repo, payload["pull_request"])
    if event == "pull_request_review" and action == "submitted" and payload.get("review"):
        number = (payload.get("pull_request") or {}).get("number", 0)
        return [record for record in [review_record(source, repo, number, payload["review"])] if record]
    if event in ("issue_comment", "pull_request_review_comment") and action in ("created", "edited") and payload.get("comment"):
        return [comment_record(source, repo, payload["comment"], review_comment=event == "pull_request_review_comment")]
    if event == "push":
        return [record for record in (push_commit_record(source, repo, commit) for commit in payload.get("commits") or []) if record]
    return None


def _signed(secret: str, body: bytes, signature: str) -> bool:
    expected = "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()
    return hmac.compare_digest(expected.encode(), signature.encode())


@csrf_exempt
def github_webhook(request: HttpRequest, slug: str) -> JsonResponse:
    if request.method != "POST":
        return JsonResponse({"error": "GitHub delivers webhooks with POST."}, status=HTTPStatus.METHOD_NOT_ALLOWED)
    body = request.read(MAX_BODY_BYTES + 1)
    if len(body) > MAX_BODY_BYTES:
        return JsonResponse({"error": "Payload too large."}, status=HTTPStatus.REQUEST_ENTITY_TOO_LARGE)
    source = Source.objects.filter(slug=slug, kind="github").first()
    secret_env = str(((source.options or {}) if source else {}).get("webhook_secret_env") or "")
    # Staff edit a source's options: like its token, its webhook secret is read only from a
    # BALOO_TOKEN_ variable, so no option can make Baloo check signatures against Django's secrets.
    secret = os.environ.get(secret_env, "") if TOKEN_ENV_NAME.match(secret_env) else ""
    if source is not None and not secret:
        logger.warning(
            "webhook delivery refused: source %s has no secret (set options.webhook_secret_env to a %s… variable)",
            slug, TOKEN_ENV_PREFIX,
        )
    # An unknown source, one without a secret and a wrong signature get the same answer after the
    # same work, so a caller without the secret cannot tell which sources exist.
    signed = _signed(secret or UNKNOWN_SOURCE_SECRET, body, request.headers.get("X-Hub-Signature-256", ""))
    if not (signed and source is not None and secret):
        return JsonResponse(
            {"error": "The X-Hub-Signature-256 signature does not match a webhook secret of this source."},
            status=HTTPStatus.UNAUTHORIZED,
        )
    event = request.headers.get("X-GitHub-Event", "")
    if event == "ping":
        return JsonResponse({"ok": True, "event": "ping"})
    try:
        payload = orjson.loads(body)
    except orjson.JSONDecodeError:
        return JsonResponse({"error": "The payload is not JSON (set the webhook's content type to application/json)."}, status=HTTPStatus.BAD_REQUEST)
    if event not in COUNTED_EVENTS:
        return JsonResponse({"ignored": event}, status=HTTPStatus.ACCEPTED)
    repository = payload.get("repository") if isinstance(payload, dict) else None
    full_name = repository.get("full_name") if isinstance(repository, dict) else None
    if not (isinstance(full_name, str) and full_name):
        # GitHub names the repository in every delivery of these events: one without it is not
        # GitHub's, and would be counted under no repository (`issue::7`) beside the sync's record.
        # 400, not 202: the delivery log shows the failure, and GitHub never redelivers by itself.
        return JsonResponse(
            {"error": f"The {event!r} payload names no repository (repository.full_name, as GitHub sends it)."},
            status=HTTPStatus.BAD_REQUEST,
        )
    repo = source_repo(source.options or {}, full_name)
    if repo is None:
        # A webhook installed on an organisation, or on a repository the source stopped counting.
        return JsonResponse({"ignored": "not a repository of this source"}, status=HTTPStatus.ACCEPTED)
    try:
        records = github_records(source.slug, event, payload, repo=repo)
    except (KeyError, TypeError, ValueError, AttributeError) as error:
        # Signed, but not shaped like GitHub's delivery of this event: say so, never a 500.
        return JsonResponse(
            {"error": f"The {event!r} payload is not shaped as GitHub sends it ({type(error).__name__}: {error})."},
            status=HTTPStatus.BAD_REQUEST,
        )
    if records is None:
        return JsonResponse({"ignored": event}, status=HTTPStatus.ACCEPTED)
    records, rejected = split_rejected(records)
    result = activities_ingest(records=enumerate(records))
    rejected_items_resolve(source=source, external_ids=(record.get("external_id") for record in records))
    rejected_items_record(source=source, rejected=rejected)
    answer = result.as_dict()
    answer["rejected"] += [{"external_id": item.external_id, "reason": item.reason} for item in rejected]
    return JsonResponse(answer)
