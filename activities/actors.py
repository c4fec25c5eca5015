"""Who did it: what ingestion hands over about a record's actor, and who answers.

An activity points at the identity that did it, and identities belong to `contributors`, the app
above this one. So ingestion describes each record's actor (`Actor`: the keys the record gives) and
asks a resolver for their identities, the way Django finds its e-mail or authentication backend: the
class named by the setting `BALOO_ACTOR_RESOLVER` (`contributors.services.ResolvedActors`). One
resolver serves one ingestion run.

The resolver also hears, in the writer's transaction, of the addresses on the e-mail domains it
watches that a batch stored (staff periods from e-mail domains: only then is the record's address
known), and names the placeholder accounts' addresses (a Bugzilla bug assigned to `nobody@…` is
assigned to nobody), so that nothing in `activities` imports the app above it.
"""

from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from django.conf import settings
from django.utils.module_loading import import_string

from .keys import Key


@dataclass(slots=True)
class Actor:
    """The identity keys one activity record gives for its actor, most specific first.

    `links_accounts` says whether whoever wrote the record may say these keys are one person: true
    for what Baloo reads itself (syncs, signed webhooks, the operator's imports, claims proven by a
    link); false for records a push token holder typed, whose keys are then joined only along
    `derived` pairs — two keys that are one account whoever typed them (a GitHub noreply address
    and the account it names).
    """

    keys: tuple[Key, ...]
    name: str
    source_id: int | None
    is_bot: bool
    links_accounts: bool = True
    derived: tuple[tuple[Key, Key], ...] = ()


class ActorResolver(Protocol):
    """What ingestion asks of the class `BALOO_ACTOR_RESOLVER` names."""

    def resolve(self, signatures: Sequence[Hashable], actor_at: Callable[[int], Actor]) -> list[int]:
        """The identity id of each signature (what makes two records' actors the same actor);
        `actor_at(i)` gives the actor of signatures[i] when it must be resolved. Runs inside a transaction."""
        ...

    def watched_email_domains(self) -> set[str]:
        """The e-mail domains (as a key writes them) whose stored addresses `emails_stored` wants."""
        ...

    def emails_stored(self, *, seen: Iterable[tuple[int, str | None, datetime]]) -> None:
        """(identity id, e-mail key, moment) of activities just stored naming a watched domain, in the
        writer's transaction."""
        ...

    @staticmethod
    def placeholder_emails() -> set[str]:
        """The e-mails of accounts that are no human (as their keys write them)."""
        ...


def actor_resolver() -> ActorResolver:
    """A new resolver, for one ingestion run."""
    return import_string(settings.BALOO_ACTOR_RESOLVER)()


def placeholder_emails() -> set[str]:
    """The e-mails of the placeholder accounts (`nobody@mozilla.org`…), as their keys write them."""
    return import_string(settings.BALOO_ACTOR_RESOLVER).placeholder_emails()
