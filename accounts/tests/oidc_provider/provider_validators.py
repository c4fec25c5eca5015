"""Claims of the test provider's users, read from the config file on every request."""

import json
import os

from oauth2_provider.oauth2_validators import OAuth2Validator


def users() -> dict[str, dict]:
    with open(os.environ["PROVIDER_CONFIG"]) as handle:
        return {user["username"]: user for user in json.load(handle)["users"]}


class ClaimsValidator(OAuth2Validator):
    # Every claim goes into both the id token and userinfo, whatever the scopes.
    oidc_claim_scope = None

    def get_additional_claims(self, request):
        user = users().get(request.user.username, {})
        return {
            "email": user.get("email", ""),
            "email_verified": user.get("email_verified", True),
            "name": user.get("name", request.user.username),
            "groups": user.get("groups", []),
        }

    # prompt=none (silent re-authentication). The authorization view only gets here with a signed-in
    # user (it answers login_required otherwise), and the test client skips the consent screen.
    def validate_silent_login(self, request):
        return True

    def validate_silent_authorization(self, request):
        return True
