from django.apps import AppConfig


class DemoConfig(AppConfig):
    # No models, so no admin section and no verbose name to show: an app only for its command.
    name = "demo"
