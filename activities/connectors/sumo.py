"""SUMO, Mozilla's support site (the Kitsune API): questions asked, answers posted, solutions.

Options: `{"products": ["firefox"], "locales": ["en-US", "de"]}` (both optional: all when absent).
The container is `<product>::<locale>`, e.g. `firefox::en-US`. SUMO gives user names, never e-mails.

Two listings, each newest first and followed through `next` until a page is all older than the
checkpoint:
- questions by `updated` (`/api/2/question/`): the question asked, and its solution once marked
  (the solution's author is `solved_by`);
- answers by their own `created` (`/api/2/answer/`), because posting an answer does not change its
  question's `updated`: a listing of questions alone would miss new answers to old questions.
An answer's container is its question's, looked up among the questions already synced and, for
the few that are not, asked for one by one.

Items stored nowhere are rejected with a reason, counted once (`Rejected`). A question or answer
whose author's account is deleted (`creator: null`) is rejected for good. Spam, and an answer whose
question the API does not serve (Kitsune answers 404 alike for a question deleted and one hidden,
waiting for moderation or taken for spam), may come back: neither listing would bring them back
(answers are listed by `created`, which never moves; a spam flag reverted need not move a question's
`updated`), so each sync also reads again, one by one, up to `RECHECKS_PER_SYNC` of each, those read
again longest ago, and stores those now served properly.
Answers to questions outside the configured products and locales are not the source's: skipped.

Knowledge-base revisions: Kitsune's public API offers no revision listing, so
`sumo.revision.created` arrives only through the push API or imports.
"""

import copy
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

from django.utils import timezone

from .base import (
    DELETED_ACCOUNT,
    NO_TIME,
    Connector,
    Page,
    Rejected,
    iso,
    rejection_reason,
    rejections_to_recheck,
    stored_containers,
    totals_due,
    walk_listing,
    with_query,
)
from .http import NotFound, SourceError

# Kitsune's `updated__gt`/`created__gt` are strict: read the last second again, duplicates are free.
OVERLAP = timedelta(seconds=1)
# What each record keeps of Kitsune's object as its raw payload: ids, states, counts and times. Not
# the people a question names (its creator, who solved it, who took part) nor what they wrote: the
# actor is the record's own, and an erasure must not have to hunt for anyone in others' payloads.
QUESTION_KEPT = ("id", "product", "topic", "locale", "created", "updated", "is_solved", "solution", "is_locked",
                 "is_archived", "is_spam", "num_answers", "num_votes")
ANSWER_KEPT = ("id", "question", "created", "updated", "is_spam", "num_helpful_votes", "num_unhelpful_votes")
# Reasons that may change: a spam flag is reverted; Kitsune answers 404 for a question or an answer
# it hides (waiting for moderation, spam) as for one deleted; a question may move to another product.
SPAM = rejection_reason("marked as spam")
QUESTION_NOT_SERVED = rejection_reason("question not served (hidden or deleted)")
NOT_SERVED = rejection_reason("not served (hidden or deleted)")
OUTSIDE = rejection_reason("outside the source's products and locales")
# An answer's question that the API no longer has (404), apart from one outside the source (None).
GONE = "gone"


def _kept(item: dict, fields: tuple[str, ...]) -> dict:
    return {field: item[field] for field in fields if field in item}


def _actor(profile: dict | None) -> dict:
    if not profile or not profile.get("username"):
        return {}
    actor = {"username": profile["username"]}
    if profile.get("display_name"):
        actor["name"] = profile["display_name"]
    return actor


def _results(data: Any) -> list:
    if not isinstance(data, dict) or not isinstance(data.get("results"), list):
        raise SourceError("expected a page object with a `results` list")
    return data["results"]


def _count(data: Any) -> int:
    """A Kitsune listing page's `count`: how many items the whole listing holds; ValueError without one."""
    count = data.get("count") if isinstance(data, dict) else None
    if not isinstance(count, int) or isinstance(count, bool) or count < 0:
        raise ValueError("no count in the listing")
    return count


def _next(response) -> str | None:
    return response.data.get("next") if isinstance(response.data, dict) else None


class SumoConnector(Connector):
    kind = "sumo"
    auth_header = staticmethod(lambda token: {"Authorization": f"Token {token}"})

    def default_base_url(self) -> str:
        return "https://support.mozilla.org"

    def pages(self, checkpoint: dict) -> Iterator[Page]:
        state = copy.deepcopy(checkpoint)
        state.setdefault("questions", {})
        containers: dict[int, str | None] = {}  # a question's container, None outside the source, or GONE
        for product in self.options.get("products") or [None]:
            for locale in self.options.get("locales") or [None]:
                key = f"{product or '*'}::{locale or '*'}"
                listing = state["questions"].get(key, {})
                url = self.client.url(with_query("api/2/question/", {
                    "format": "json", "ordering": "-updated", "product": product, "locale": locale,
                    "updated__gt": listing.get("since"),
                }))
                for questions, new_state in walk_listing(self.client, listing, url=url, item_time=lambda q: q.get("updated"),
                                                         next_url=_next, items_of=_results, lookback=OVERLAP):
                    records = []
                    for question in questions:
                        containers[question["id"]] = self._container(question)
                        records.extend(self._question_records(question))
                    state["questions"][key] = new_state
                    yield Page(records, copy.deepcopy(state))

        answers = state.get("answers", {})
        url = self.client.url(with_query("api/2/answer/", {"format": "json", "ordering": "-created", "created__gt": answers.get("since")}))
        for items, new_state in walk_listing(self.client, answers, url=url, item_time=lambda a: a.get("created"),
                                             next_url=_next, items_of=_results, lookback=OVERLAP):
            records = self._learn_containers(containers, {answer["question"] for answer in items if answer.get("question")})
            for answer in items:
                records.extend(self._answer_records(answer, containers))
            state["answers"] = new_state
            yield Page(records, copy.deepcopy(state))

        recheck = self._recheck(containers)
        if recheck:
            yield Page(recheck, copy.deepcopy(state))
        if totals_due(state):
            yield from self._totals(state)

    def _totals(self, state: dict) -> Iterator[Page]:
        """Kitsune's own counts, as a page of no records (see `Page.source_total`): each question
        listing's `count` with no time filter, added up over the source's products and locales; and
        the answers' `count` when the source takes every product and locale (the answer listing has
        no product or locale filter, so it would count answers the source does not sync). One request
        per listing, once a day; a failed one costs nothing but the figure, asked again next sync."""
        total: dict[str, int] = {}
        try:
            questions = 0
            for product in self.options.get("products") or [None]:
                for locale in self.options.get("locales") or [None]:
                    url = self.client.url(with_query("api/2/question/", {"format": "json", "product": product, "locale": locale}))
                    questions += _count(self.client.get(url).data)
            total["question"] = questions
            if not self.options.get("products") and not self.options.get("locales"):
                total["answer"] = _count(self.client.get(self.client.url("api/2/answer/?format=json")).data)
        except (SourceError, ValueError):
            return  # no total this time
        state["totals_at"] = iso(timezone.now())
        yield Page([], copy.deepcopy(state), source_total=total)

    def _answer_records(self, answer: dict, containers: dict[int, str | None]) -> list[dict | Rejected]:
        external_id = f"answer:{answer['id']}"
        container = containers.get(answer.get("question")) if answer.get("question") else GONE
        actor = _actor(answer.get("creator"))
        if answer.get("is_spam"):
            return [Rejected(external_id, SPAM, lasting=False)]
        if container == GONE:
            return [Rejected(external_id, QUESTION_NOT_SERVED, lasting=False)]
        if container is None:
            return []
        if not actor:
            return [Rejected(external_id, DELETED_ACCOUNT)]
        if not answer.get("created"):
            return [Rejected(external_id, NO_TIME)]
        return [self.record(
            external_id=external_id, type="sumo.answer.posted", occurred_at=answer["created"],
            actor=actor, container=container, url=self._question_url(answer["question"], f"#answer-{answer['id']}"),
            data=_kept(answer, ANSWER_KEPT),
        )]

    def _served_again(self, kind: str, records: list) -> Iterator[tuple[str, dict]]:
        """Each `kind` ("question" or "answer") rejected for a reason that may change, read again one
        by one: one the API does not serve is rejected again into `records`, the others are yielded."""
        for external_id in rejections_to_recheck(source=self.source, prefix=f"{kind}:"):
            item_id = external_id.removeprefix(f"{kind}:")
            try:
                item = self.client.get(f"api/2/{kind}/{item_id}/", params={"format": "json"}).data
            except NotFound:
                records.append(Rejected(external_id, NOT_SERVED, lasting=False))
                continue
            if not isinstance(item, dict) or str(item.get("id")) != item_id:
                raise SourceError(f"expected {kind} {item_id} as a JSON object")
            yield external_id, item

    def _recheck(self, containers: dict[int, str | None]) -> list[dict | Rejected]:
        """Read again, one by one, questions and answers rejected for a reason that may change.

        Neither listing brings them back: answers are listed by `created`, which never moves, and
        marking a question as spam or not, hiding or showing it, need not move its `updated`. Those
        the API now serves properly become records (the sync stores them and drops their rejection);
        the others are rejected again, with the reason of today, and not counted again.
        """
        records: list[dict | Rejected] = []
        for external_id, question in self._served_again("question", records):
            containers[question["id"]] = container = self._container(question)
            records.extend(self._question_records(question) if container else [Rejected(external_id, OUTSIDE, lasting=False)])
        answers = [answer for _external_id, answer in self._served_again("answer", records)]
        records.extend(self._learn_containers(containers, {answer["question"] for answer in answers if answer.get("question")}))
        for answer in answers:
            if answer.get("question") and containers.get(answer["question"]) is None:
                records.append(Rejected(f"answer:{answer['id']}", OUTSIDE, lasting=False))
            else:
                records.extend(self._answer_records(answer, containers))
        return records

    def _container(self, question: dict) -> str | None:
        """`product::locale`, or None when the question is outside the configured products and locales."""
        product, locale = question.get("product") or "", question.get("locale") or ""
        if self.options.get("products") and product not in self.options["products"]:
            return None
        if self.options.get("locales") and locale not in self.options["locales"]:
            return None
        return f"{product}::{locale}"

    def _question_url(self, question_id: int, anchor: str = "") -> str:
        return self.client.url(f"questions/{question_id}{anchor}")

    def _question_records(self, question: dict) -> list[dict | Rejected]:
        container = self._container(question)
        if container is None:
            return []
        asked = f"question:{question['id']}"
        if question.get("is_spam"):
            return [Rejected(asked, SPAM, lasting=False)]
        if not question.get("created"):
            return [Rejected(asked, NO_TIME)]
        common = {"container": container, "url": self._question_url(question["id"]), "title": question.get("title") or "",
                  "data": _kept(question, QUESTION_KEPT)}
        records: list[dict | Rejected] = []
        actor = _actor(question.get("creator"))
        if actor:
            records.append(self.record(external_id=asked, type="sumo.question.asked", occurred_at=question["created"],
                                       actor=actor, **common))
        else:
            records.append(Rejected(asked, DELETED_ACCOUNT))
        if question.get("solution"):
            solved = f"solution:{question['id']}:{question['solution']}"
            solver = _actor(question.get("solved_by"))
            if solver:
                # The API does not say when the solution was marked; the question's `updated` is the closest.
                records.append(self.record(external_id=solved, type="sumo.answer.solution",
                                           occurred_at=question.get("updated") or question["created"], actor=solver, **common))
            else:
                records.append(Rejected(solved, DELETED_ACCOUNT))
        return records

    def _learn_containers(self, containers: dict[int, str | None], question_ids: set[int]) -> list[dict | Rejected]:
        """Find the containers of answers' questions: synced ones from the database, others from the API.

        A question read here and not stored yet is stored too (its records are returned): one the
        listing never brought, because it was hidden when the listing was read and showing it again
        did not move its `updated`.
        """
        unknown = [question_id for question_id in question_ids if question_id not in containers]
        if not unknown:
            return []
        stored = stored_containers(source=self.source, external_ids=[f"question:{question_id}" for question_id in unknown])
        records: list[dict | Rejected] = []
        for question_id in unknown:
            if f"question:{question_id}" in stored:
                containers[question_id] = stored[f"question:{question_id}"]
                continue
            try:
                question = self.client.get(f"api/2/question/{question_id}/", params={"format": "json"}).data
            except NotFound:
                containers[question_id] = GONE
                continue
            if not isinstance(question, dict):
                containers[question_id] = None
                continue
            containers[question_id] = self._container(question)
            records.extend(self._question_records(question))
        return records
