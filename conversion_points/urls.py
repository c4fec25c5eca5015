"""URLs of the metrics API (see the metrics issue)."""

urlpatterns: list = []
