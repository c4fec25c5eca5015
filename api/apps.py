from django.apps import AppConfig


class ApiConfig(AppConfig):
    # No models: nothing of it shows in the admin, so it needs no translated name.
    name = "api"

    def ready(self) -> None:
        # The OpenAPI extensions register themselves on import (drf-spectacular reads a registry).
        from . import schema  # noqa: F401
