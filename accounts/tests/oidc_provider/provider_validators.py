"""Claims of the test provider's users, and the ways a test can make it misbehave, read from the config file on every request."""

import base64
import json
import os
import time

from jwcrypto import jwt
from oauth2_provider.oauth2_validators import OAuth2Validator


def config() -> dict:
    with open(os.environ["PROVIDER_CONFIG"]) as handle:
        return json.load(handle)


def users() -> dict[str, dict]:
    return {user["username"]: user for user in config()["users"]}


def _segment(part: str) -> dict:
    return json.loads(base64.urlsafe_b64decode(part + "=" * (-len(part) % 4)))


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

    def finalize_id_token(self, id_token, token, token_handler, request):
        """The id token as the library signs it, then changed as the config's `id_token` asks.

        `{"aud": …, "iss": …}` replace those claims, `"kid": false` drops the key id from the header,
        `"clock_offset": s` moves iat, auth_time and exp by s seconds (a provider whose clock is
        ahead, or, negative, a token that has expired): each is a way a real provider goes wrong.
        """
        signed = super().finalize_id_token(id_token, token, token_handler, request)
        tweaks = config().get("id_token") or {}
        if not tweaks:
            return signed
        header_part, claims_part, _signature = signed.split(".")
        header, claims = _segment(header_part), _segment(claims_part)
        for name in ("aud", "iss"):
            if name in tweaks:
                claims[name] = tweaks[name]
        offset = int(tweaks.get("clock_offset", 0))
        for name in ("iat", "auth_time", "exp"):
            if name in claims:
                claims[name] = int(claims[name]) + offset
        if "exp_in" in tweaks:
            claims["exp"] = int(time.time()) + int(tweaks["exp_in"])
        if tweaks.get("kid") is False:
            header.pop("kid", None)
        resigned = jwt.JWT(header=json.dumps(header), claims=json.dumps(claims))
        resigned.make_signed_token(request.client.jwk_key)
        return resigned.serialize()
