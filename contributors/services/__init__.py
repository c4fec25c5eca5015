"""Writes about people: resolving actors to identities and persons, merges, unmerges, moves, erasure.

Automatic merging happens only on exact, trustworthy keys, transitively: everything one activity
record that Baloo read itself names together (an e-mail and a login on the same commit; records a
push token holder typed link only when their source is trusted to), the same e-mail from any source
(case-folded), a GitHub noreply address and its account (with or without a GitHub source), the
same user name or uid within one account namespace — where the uid is the account: two accounts
(different uids of one account space; GitHub's namespaces are one) never become one person by any
automatic rule, whatever key would join them (`AccountGroups`, `KeptApart`). Never on names. Excluded values never join anything, locked persons and
persons an admin separated are never merged automatically. Every change is audited.

A package, one module per job (`groups`: which keys are one account and which persons may merge;
`resolution`: actors to identities; `merges`: merges, unmerges, moves, flags; `forget`: erasure on
request); import from `contributors.services`, which names them all.
"""

from .forget import person_forget
from .groups import UnionFind, blocked_person_pairs, excluded_values, merge_allowed
from .merges import (
    identity_move,
    person_set_flags,
    person_unmerge,
    persons_merge,
    persons_merge_groups,
    persons_merge_many,
    resolution_lock,
)
from .resolution import (
    REUSED_LOGIN_REASON,
    TWO_ACCOUNTS_REASON,
    UNLINKED_REASON,
    ResolvedActors,
    identities_existing,
    identities_resolve,
)

__all__ = [
    "REUSED_LOGIN_REASON",
    "TWO_ACCOUNTS_REASON",
    "UNLINKED_REASON",
    "ResolvedActors",
    "UnionFind",
    "blocked_person_pairs",
    "excluded_values",
    "identities_existing",
    "identities_resolve",
    "identity_move",
    "merge_allowed",
    "person_forget",
    "person_set_flags",
    "person_unmerge",
    "persons_merge",
    "persons_merge_groups",
    "persons_merge_many",
    "resolution_lock",
]
