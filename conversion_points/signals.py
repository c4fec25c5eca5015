"""What the conversion points app tells the apps above it, without importing them."""

from django.dispatch import Signal

#: Sent when areas or conversion points changed (config as code, the admin): what counts changed
#: (`metrics.services`).
rules_changed = Signal()
