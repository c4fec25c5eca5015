"""The builder's desk pages: an area's people in a week, a person's contributions there, the CSV, the digest settings.

Signed-in community builders and staff only: anyone else signed in is refused (403), and someone
not signed in is sent to sign in. A builder opens only the areas they own; another area answers
exactly like one that does not exist (404). Every value in the address is read strictly (`forms.py`).
"""

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied
from django.core.paginator import Paginator
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy
from django.views.decorators.cache import never_cache
from django.views.decorators.csrf import csrf_exempt
from django.views.decorators.http import require_http_methods

from accounts.models import AuthAudit
from accounts.services import audit_record
from baloo_site.spreadsheet import csv_writer
from contributors.views import activity_words, sign_in_url, web_link
from conversion_points.models import Area

from .digest import digest_setting_save, unsubscribe_user
from .forms import DeskQuery, DigestSettingForm, latest_complete_sunday
from .models import DigestSetting
from .selectors import (
    ABOUT_TO_LAPSE,
    ACTIVE,
    BACK,
    LAPSED,
    NEW,
    Desk,
    desk_areas,
    desk_for,
    desk_person_activities,
    desk_person_name,
    desk_sources,
    may_use_desk,
)

PEOPLE_PER_PAGE = 50
ACTIVITIES_PER_PAGE = 50

STATUS_WORDS = {
    NEW: gettext_lazy("New"),
    BACK: gettext_lazy("Back again"),
    ABOUT_TO_LAPSE: gettext_lazy("About to lapse"),
    ACTIVE: gettext_lazy("Active"),
    LAPSED: gettext_lazy("Lapsed"),
}
LEVEL_WORDS = {"casual": gettext_lazy("casual"), "active": gettext_lazy("active"), "core": gettext_lazy("core")}


def builders_and_staff(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
    """Signed-in builders and staff only: sign in first, or 403 for everyone else."""

    @wraps(view)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not request.user.is_authenticated:
            return redirect(sign_in_url(request.get_full_path()))
        if not may_use_desk(user=request.user):
            raise PermissionDenied
        return view(request, *args, **kwargs)

    return never_cache(wrapper)


def _area(request: HttpRequest, slug: str) -> Area:
    area = desk_areas(user=request.user).filter(slug=slug).first()
    if area is None:
        # Another builder's area answers exactly like an area that does not exist.
        raise Http404
    return area


def _refused(request: HttpRequest, query: DeskQuery) -> HttpResponse:
    problems = [str(message) for errors in query.errors.values() for message in errors]
    return render(request, "desk/refused.html", {"problems": problems}, status=400)


def _read(request: HttpRequest, area: Area) -> tuple[Desk | None, DeskQuery]:
    sources = [source.slug for source in desk_sources(user=request.user, area=area)]
    query = DeskQuery(request.GET, sources=sources)
    if not query.is_valid():
        return None, query
    return desk_for(user=request.user, area=area, week_end=query.cleaned_data["week"]), query


@builders_and_staff
def index(request: HttpRequest) -> HttpResponse:
    """The areas whose people the reader may see; with only one, that area's desk."""
    areas = list(desk_areas(user=request.user))
    if len(areas) == 1:
        return redirect("desk:area", slug=areas[0].slug)
    return render(request, "desk/index.html", {"areas": areas})


@builders_and_staff
def area_desk(request: HttpRequest, slug: str) -> HttpResponse:
    """An area's people in a week: counts per status, filters, a page of people."""
    area = _area(request, slug)
    desk, query = _read(request, area)
    if desk is None:
        return _refused(request, query)
    chosen = {name: query.cleaned_data[name] for name in ("status", "level", "source")}
    people = desk.filtered(**chosen)
    page = Paginator(people, PEOPLE_PER_PAGE).get_page(request.GET.get("page"))
    for person in page:
        person.status_words = STATUS_WORDS[person.status]
        person.level_words = LEVEL_WORDS.get(person.level, person.level)
    filters = request.GET.copy()
    filters.pop("page", None)
    return render(
        request,
        "desk/area.html",
        {
            "area": area,
            "areas": desk_areas(user=request.user),
            "desk": desk,
            "counts": desk.counts(),
            "page": page,
            "week": desk.week_end,
            "latest": latest_complete_sunday(),
            "chosen": chosen,
            "statuses": list(STATUS_WORDS.items()),
            "levels": list(LEVEL_WORDS.items()),
            "filters": filters.urlencode(),
            "shown": len(people),
        },
    )


@builders_and_staff
def area_csv(request: HttpRequest, slug: str) -> HttpResponse:
    """The desk's list as CSV, with the same week and filters; every cell safe to open in a spreadsheet."""
    area = _area(request, slug)
    desk, query = _read(request, area)
    if desk is None:
        return _refused(request, query)
    chosen = {name: query.cleaned_data[name] for name in ("status", "level", "source")}
    people = desk.filtered(**chosen)
    details = {"what": f"desk:{area.slug}", "week": desk.week_end.isoformat(), **chosen, "rows": len(people)}
    audit_record(action=AuthAudit.Action.EXPORT, user=request.user, details=details, request=request)
    response = HttpResponse(content_type="text/csv; charset=utf-8")
    response["Content-Disposition"] = f'attachment; filename="{area.slug}-{desk.week_end.isoformat()}.csv"'
    writer = csv_writer(response)
    writer.writerow(
        ["person", "name", "status", "level", "first_contribution_at", "last_contribution_at", "drops_out_on", "moved", "sources"]
    )
    for person in people:
        writer.writerow(
            [
                person.person_id,
                person.name,
                person.status,
                person.level,
                person.first.isoformat(),
                person.last.isoformat(),
                person.drops_out_on.isoformat() if person.drops_out_on and person.status != LAPSED else "",
                ("yes" if person.moved else "no") if person.status == LAPSED else "",
                " ".join(person.sources),
            ]
        )
    return response


@builders_and_staff
def person_activities(request: HttpRequest, slug: str, person_id: int) -> HttpResponse:
    """One person's contributions to the area, as the reader may see them, newest first."""
    area = _area(request, slug)
    activities = desk_person_activities(user=request.user, area=area, person_id=person_id)
    page = Paginator(activities, ACTIVITIES_PER_PAGE).get_page(request.GET.get("page"))
    if not page.object_list:
        raise Http404
    for activity in page:
        activity.words = activity_words(activity.type)
        activity.link = web_link(activity.url)
    name = desk_person_name(user=request.user, person_id=person_id)
    return render(request, "desk/person.html", {"area": area, "name": name, "person_id": person_id, "page": page})


@builders_and_staff
@require_http_methods(["GET", "POST"])
def digest_settings(request: HttpRequest) -> HttpResponse:
    """Whether to receive the weekly digest, and in which language."""
    setting = DigestSetting.objects.filter(user=request.user).first() or DigestSetting(user=request.user)
    form = DigestSettingForm(request.POST or None, instance=setting)
    if request.method == "POST" and form.is_valid():
        digest_setting_save(user=request.user, subscribed=form.cleaned_data["subscribed"], language=form.cleaned_data["language"])
        messages.success(request, _("Saved."))
        return redirect("desk:digest")
    return render(request, "desk/digest.html", {"form": form})


@csrf_exempt  # the signed link is the proof; mail programs post to it without a form (RFC 8058 one-click)
@never_cache
@require_http_methods(["GET", "POST"])
def unsubscribe(request: HttpRequest, token: str) -> HttpResponse:
    """The link in every digest: a button to stop it (GET), stopping it (POST). No sign-in needed."""
    user = unsubscribe_user(token)
    if user is None:
        return render(request, "desk/unsubscribe.html", {"invalid": True}, status=400)
    if request.method == "POST":
        digest_setting_save(user=user, subscribed=False)
        return render(request, "desk/unsubscribe.html", {"done": True, "settings_link": reverse("desk:digest")})
    return render(request, "desk/unsubscribe.html", {})
