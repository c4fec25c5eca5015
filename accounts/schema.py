"""OpenAPI descriptions of the staff API's two token kinds (drf-spectacular cannot guess them)."""

from drf_spectacular.extensions import OpenApiAuthenticationExtension


class OIDCBearerScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.OIDCBearerAuthentication"
    name = "oidcBearer"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201 - drf-spectacular's signature
        return {
            "type": "http",
            "scheme": "bearer",
            "description": "An access token from Baloo's OpenID Connect provider (checked at its userinfo endpoint).",
        }


class ApiTokenScheme(OpenApiAuthenticationExtension):
    target_class = "accounts.auth.ApiTokenAuthentication"
    name = "apiToken"

    def get_security_definition(self, auto_schema):  # noqa: ANN001, ANN201
        return {
            "type": "apiKey",
            "in": "header",
            "name": "Authorization",
            "description": "A personal staff API token from the admin, sent as `Token <token>`.",
        }
