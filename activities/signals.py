"""What the activities app tells the apps above it, without importing them."""

from django.dispatch import Signal

#: Sent by `activities.services.activities_ingest` when it stored new activities; `created` is how
#: many. The metrics engine listens (`metrics.services`).
activities_stored = Signal()
