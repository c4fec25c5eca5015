from django.apps import AppConfig
from django.core import checks
from django.db.models.signals import post_migrate
from django.utils.translation import gettext_lazy as _

from baloo_site.site_url import site_url_check


class AccountsConfig(AppConfig):
    name = "accounts"
    verbose_name = _("Sign-in and permissions")

    def ready(self) -> None:
        # Signal receivers connect themselves on import.
        from . import roles, signals  # noqa: F401

        # Sign-out gives the provider an absolute return address: `check --deploy` says when it could be forged.
        checks.register(site_url_check, checks.Tags.security, deploy=True)

        # Permissions exist only after migrate; the role groups are (re)built from them then.
        post_migrate.connect(_groups_after_migrate, sender=self, dispatch_uid="accounts_role_groups")


def _groups_after_migrate(**kwargs: object) -> None:
    from .roles import role_groups_ensure

    role_groups_ensure(using=str(kwargs.get("using") or "default"))
