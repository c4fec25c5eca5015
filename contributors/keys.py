"""Identity keys, as `activities.keys` writes them: kept importable here for the modules that
still read them under this name (the staff API's, until it moves to the `api` app; #17)."""

from activities.keys import Key, email_key, email_lowercase, username_key

__all__ = ["Key", "email_key", "email_lowercase", "username_key"]
