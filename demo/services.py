"""Seeding the demo community: its configuration and records go in through the services everything else uses.

`demo_seed` loads `demo/config.json` with `config_load` (as `load_config` does) — or a configuration
it is given, with records that fit it (`demo.configured`) — stores the generator's records with
`activities_ingest` (as an import does), gives the demo's staff their periods with
`staff_periods_from_email_domains`, and counts the community once. In development only,
`demo_contributor_login` gives one demo volunteer a password login, so that someone trying Baloo
can see "my contributions".
"""

import json
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, datetime
from itertools import islice
from pathlib import Path
from typing import Any

from django.contrib.auth import get_user_model
from django.db import transaction
from django.db.models import Count

from activities.keys import email_key
from activities.models import Activity
from activities.services import Rejection, activities_ingest
from baloo_site.sign_in import local_sign_in_enabled
from contributors.models import Identity
from contributors.placeholders import counted
from contributors.staff import staff_periods_from_email_domains
from conversion_points.services import config_load
from metrics.engine import metrics_recompute

from .configured import configured_records
from .generator import DEMO_PEOPLE, STAFF_DOMAIN, demo_end_date, demo_records

CONFIG_PATH = Path(__file__).resolve().parent / "config.json"
BATCH_SIZE = 10_000
# The demo contributor's development login (printed by `seed_demo`, like the admin's admin / admin).
CONTRIBUTOR_USERNAME = "contributor"
CONTRIBUTOR_PASSWORD = "contributor"


@dataclass
class DemoSeeded:
    """What `demo_seed` did: nothing when the database already held activities (`skipped`)."""

    skipped: bool = False
    end: date | None = None
    created: int = 0
    rejected: list[Rejection] = field(default_factory=list)


def demo_config() -> dict:
    """The demo's sources, areas and conversion points: `demo/config.json`, a configuration-as-code file."""
    with CONFIG_PATH.open(encoding="utf-8") as stream:
        return json.load(stream)


def demo_seed(*, today: date, people: int = DEMO_PEOPLE, config: dict | None = None) -> DemoSeeded:
    """Fill an empty database with the demo community of `people` humans, up to the last complete
    week before `today`, and count it. A database that already holds activities is left alone.

    With a `config` (a configuration file's content), that configuration is loaded instead of the
    demo's own, never synced (`demo_config_never_synced`), and the community's records fit it
    (`demo.configured`). A configuration that cannot be loaded raises `ConfigError`, and nothing is stored.

    The demo's staff are those with an address on its own staff domain (`STAFF_DOMAIN`), for the
    days from their first to their last record naming it: the same periods a deployment listing
    that domain in `STAFF_EMAIL_DOMAINS` would get, without it being listed.
    """
    if Activity.objects.exists():
        return DemoSeeded(skipped=True)
    end = demo_end_date(today)
    with transaction.atomic():
        if config is None:
            config_load(config=demo_config())
            generated = demo_records(end=end, people=people)
        else:
            config = demo_config_never_synced(config)
            config_load(config=config)
            generated = configured_records(config=config, end=end, people=people)
        staff_addresses: dict[int, tuple[str, datetime]] = {}
        records = enumerate(_noting_staff_addresses(generated, staff_addresses))
        seeded = DemoSeeded(end=end)
        while batch := list(islice(records, BATCH_SIZE)):
            result = activities_ingest(records=batch)
            seeded.created += result.created
            seeded.rejected.extend(result.rejected)
        for rejection in seeded.rejected:
            staff_addresses.pop(rejection.position, None)
        _staff_periods_from(staff_addresses.values())
    # Count the demo community right away, so the dashboard shows it on the first visit.
    metrics_recompute()
    return seeded


def demo_config_never_synced(config: Any) -> Any:
    """The configuration with every source's `schedule_minutes` set to 0: a demo's data is invented, and
    a scheduled sync would mix real activity into it. Anything but a configuration is given back as it
    is, for `config_load` to say what is wrong with it."""
    if not isinstance(config, dict) or not isinstance(config.get("sources"), list):
        return config
    sources = [{**source, "schedule_minutes": 0} if isinstance(source, dict) else source for source in config["sources"]]
    return {**config, "sources": sources}


def _noting_staff_addresses(records: Iterator[dict], noted: dict[int, tuple[str, datetime]]) -> Iterator[dict]:
    """The records as they are, noting by position each one's address on the staff domain and its moment."""
    for position, record in enumerate(records):
        email = record["actor"].get("email", "")
        if email.endswith(f"@{STAFF_DOMAIN}"):
            noted[position] = (email, datetime.fromisoformat(record["occurred_at"]))
        yield record


def _staff_periods_from(addresses: Iterable[tuple[str, datetime]]) -> None:
    """Staff periods from the stored records naming a staff address, each seen under the address's identity."""
    seen = []
    identity_of: dict[str, int] = {}
    for email, moment in addresses:
        key = email_key(email)
        if key[2] not in identity_of:
            identity_of[key[2]] = Identity.objects.by_key(key).values_list("pk", flat=True).get()
        seen.append((identity_of[key[2]], key[2], moment))
    staff_periods_from_email_domains(seen=seen, domains=[STAFF_DOMAIN])


@dataclass
class DemoLogin:
    """A development login `demo_contributor_login` created, and whose record it opens."""

    username: str
    password: str
    email: str


def demo_contributor_login() -> DemoLogin | None:
    """A password login for the demo's busiest volunteer with an e-mail address, whose record it
    opens on "my contributions" (a user's record is the person holding their e-mail).

    Development only (`local_sign_in_enabled`: DEBUG, password sign-in, no single sign-on): None
    anywhere else, and None when the user exists already (its password may have been changed).
    """
    User = get_user_model()
    if not local_sign_in_enabled() or User.objects.filter(username=CONTRIBUTOR_USERNAME).exists():
        return None
    busiest = (
        Identity.objects.filter(counted("person"), kind=Identity.Kind.EMAIL, person__staff_periods__isnull=True)
        .annotate(done=Count("activities"))
        .order_by("-done", "pk")
        .first()
    )
    if busiest is None:
        return None
    User.objects.create_user(CONTRIBUTOR_USERNAME, email=busiest.value, password=CONTRIBUTOR_PASSWORD)
    return DemoLogin(username=CONTRIBUTOR_USERNAME, password=CONTRIBUTOR_PASSWORD, email=busiest.value)
