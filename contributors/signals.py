"""What the contributors app tells the apps above it, without importing them."""

from django.dispatch import Signal

#: Sent by the identity services when who is who changed (a merge, unmerge, move, erasure, staff
#: period, placeholder or directory import); the counts depend on it (`metrics.services`).
people_changed = Signal()
