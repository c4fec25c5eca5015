from django.apps import AppConfig
from django.utils.translation import gettext_lazy as _


class ConversionPointsConfig(AppConfig):
    name = "conversion_points"
    verbose_name = _("Areas and conversion points")
