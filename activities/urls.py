"""URLs of the activities app: the push API and webhooks (see the sources issue)."""

urlpatterns: list = []
