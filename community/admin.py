"""Admin for participation: integration requests, and the claims contributors make on their accounts.

The claim models live in the contributors app (they are about who is who, and staff already hold
that app's permissions); their admin is here, next to the contributor pages that create them.
Approving goes through `contributors.claims`, so every join is a merge the identity services audit.
"""

from collections.abc import Callable, Iterable
from typing import TypeVar

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.functional import Promise
from django.utils.html import format_html
from django.utils.translation import gettext_lazy as _
from django.utils.translation import ngettext, ngettext_lazy

from activities.keys import username_key
from contributors.claims import ClaimError, account_claim_approve, account_claim_reject, email_claim_approve
from contributors.models import AccountClaim, EmailClaim, Identity, Person
from contributors.selectors import person_for_user

from .models import IntegrationRequest
from .services import integration_requests_set_status


@admin.register(IntegrationRequest)
class IntegrationRequestAdmin(admin.ModelAdmin):
    list_display = ("system", "status", "created_at", "updated_at")
    list_filter = ("status",)
    search_fields = ("system", "what_counts", "contact")
    search_help_text = _("Finds a request by system, by what should count, or by who asked.")
    date_hierarchy = "created_at"
    readonly_fields = ("requested_by", "created_at", "updated_at")
    fieldsets = (
        (_("The request"), {"fields": ("system", "url", "what_counts")}),
        (_("Who asked (never shown publicly)"), {"fields": ("contact", "requested_by", "created_at")}),
        (
            _("Our answer"),
            {
                "fields": ("status", "public_note", "staff_notes", "updated_at"),
                "description": _(
                    "Requested, planned, being built and available requests show on the public list with the note; declined ones don't."
                ),
            },
        ),
    )
    actions = ("mark_planned", "mark_in_progress", "mark_available", "mark_declined")

    def _set_status(self, request: HttpRequest, queryset: QuerySet[IntegrationRequest], status: str) -> None:
        count = integration_requests_set_status(requests=queryset, status=status)
        label = IntegrationRequest.Status(status).label
        self.message_user(
            request,
            ngettext("%(count)d request is now “%(status)s”.", "%(count)d requests are now “%(status)s”.", count)
            % {"count": count, "status": label},
        )

    @admin.action(description=_("Mark as planned"))
    def mark_planned(self, request: HttpRequest, queryset: QuerySet[IntegrationRequest]) -> None:
        self._set_status(request, queryset, IntegrationRequest.Status.PLANNED)

    @admin.action(description=_("Mark as being built"))
    def mark_in_progress(self, request: HttpRequest, queryset: QuerySet[IntegrationRequest]) -> None:
        self._set_status(request, queryset, IntegrationRequest.Status.IN_PROGRESS)

    @admin.action(description=_("Mark as available"))
    def mark_available(self, request: HttpRequest, queryset: QuerySet[IntegrationRequest]) -> None:
        self._set_status(request, queryset, IntegrationRequest.Status.AVAILABLE)

    @admin.action(description=_("Mark as not planned (hidden from the public list)"))
    def mark_declined(self, request: HttpRequest, queryset: QuerySet[IntegrationRequest]) -> None:
        self._set_status(request, queryset, IntegrationRequest.Status.DECLINED)


def _person_link(person: Person) -> str:
    url = reverse("admin:contributors_person_change", args=[person.pk])
    return format_html('<a href="{}">{}</a>', url, person)


Claim = TypeVar("Claim", AccountClaim, EmailClaim)


def _decide_claims(
    model_admin: admin.ModelAdmin,
    request: HttpRequest,
    claims: Iterable[Claim],
    decide: Callable[[Claim], object],
    done: Promise,
) -> None:
    """A claim admin action: `decide` each claim, warn about each it refuses, then say how many were decided.

    `done` is an `ngettext_lazy(singular, plural, "count")` message, formatted with the number decided.
    """
    count = 0
    for claim in claims:
        try:
            decide(claim)
            count += 1
        except ClaimError as error:
            model_admin.message_user(request, f"{claim}: {error.message}", messages.WARNING)
    if count:
        model_admin.message_user(request, done % {"count": count})


@admin.register(AccountClaim)
class AccountClaimAdmin(admin.ModelAdmin):
    list_display = ("username", "source", "user", "status", "created_at", "decided_by")
    list_filter = ("status", "source")
    list_select_related = ("source", "user", "decided_by")
    search_fields = ("username", "user__email")
    search_help_text = _("Finds a claim by the user name claimed or the e-mail of who asked.")
    readonly_fields = (
        "user",
        "source",
        "username",
        "evidence",
        "current_holder",
        "claimant_person",
        "status",
        "decided_by",
        "decided_at",
        "merge",
        "created_at",
    )
    fieldsets = (
        (_("The claim"), {"fields": ("user", "claimant_person", "source", "username", "evidence", "created_at")}),
        (
            _("Before you decide"),
            {
                "fields": ("current_holder",),
                "description": _(
                    "Check the evidence: approving joins this account, and everything done with it, to the person who asked. "
                    "It can be undone from “person merges”."
                ),
            },
        ),
        (_("Decision"), {"fields": ("status", "note", "decided_by", "decided_at", "merge")}),
    )
    actions = ("approve", "reject")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.display(description=_("who holds this account now"))
    def current_holder(self, obj: AccountClaim) -> str:
        key = username_key(obj.source.accounts_namespace, obj.username)
        identity = Identity.objects.by_key(key).select_related("person").first()
        if identity is None:
            return _(
                "Nobody yet: no activity with this user name has arrived. Approving reserves it for the person who asked."
            )
        return _person_link(identity.person)

    @admin.display(description=_("person who asked"))
    def claimant_person(self, obj: AccountClaim) -> str:
        person = person_for_user(user=obj.user)
        return _person_link(person) if person else _("Not known to Baloo yet")

    @admin.action(description=_("Approve: join the accounts to the people who asked"))
    def approve(self, request: HttpRequest, queryset: QuerySet[AccountClaim]) -> None:
        _decide_claims(
            self,
            request,
            queryset.select_related("source", "user"),
            lambda claim: account_claim_approve(claim=claim, by=request.user),
            ngettext_lazy("Approved %(count)d claim.", "Approved %(count)d claims.", "count"),
        )

    @admin.action(description=_("Reject (the note, if any, is shown to the contributor)"))
    def reject(self, request: HttpRequest, queryset: QuerySet[AccountClaim]) -> None:
        _decide_claims(
            self,
            request,
            queryset,
            lambda claim: account_claim_reject(claim=claim, by=request.user),
            ngettext_lazy("Rejected %(count)d claim.", "Rejected %(count)d claims.", "count"),
        )


@admin.register(EmailClaim)
class EmailClaimAdmin(admin.ModelAdmin):
    list_display = ("email", "user", "status", "sent_at", "confirmed_at")
    list_filter = ("status",)
    list_select_related = ("user",)
    search_fields = ("email", "user__email")
    readonly_fields = ("user", "email", "status", "sent_at", "confirmed_at", "merge", "created_at")
    fields = readonly_fields
    actions = ("approve",)

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    @admin.action(description=_("Approve confirmed claims waiting for staff (locked or separated people)"))
    def approve(self, request: HttpRequest, queryset: QuerySet[EmailClaim]) -> None:
        _decide_claims(
            self,
            request,
            queryset.select_related("user"),
            lambda claim: email_claim_approve(claim=claim, by=request.user),
            ngettext_lazy("Approved %(count)d claim.", "Approved %(count)d claims.", "count"),
        )
