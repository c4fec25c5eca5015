"""Model fields more than one app uses; like every module of `baloo_site` here, it imports no app."""

from django.core.validators import URLValidator
from django.db import models


class HttpsURLField(models.URLField):
    """A URL field whose form assumes https:// when the scheme is left out (Django 6's default).

    Shown as a link on public pages, so only http and https addresses are valid (not ftp, nor
    javascript:), in the admin as in the model's own validation.
    """

    default_validators = [URLValidator(schemes=["http", "https"])]

    def formfield(self, **kwargs):
        return super().formfield(**{"assume_scheme": "https", **kwargs})
