"""Run the test OpenID Connect provider: `python serve.py CONFIG.json` (see README.md)."""

import json
import os
import sys
from pathlib import Path
from socketserver import ThreadingMixIn
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

HERE = Path(__file__).resolve().parent


class ThreadingServer(ThreadingMixIn, WSGIServer):
    daemon_threads = True


def with_outage(application, config_path: Path):
    """Answers 503 to everything while the config file says `"outage": true` (a provider that is down)."""

    def app(environ, start_response):
        if json.loads(config_path.read_text()).get("outage"):
            start_response("503 Service Unavailable", [("Content-Type", "text/plain")])
            return [b"down for maintenance"]
        return application(environ, start_response)

    return app


class QuietHandler(WSGIRequestHandler):
    def log_message(self, *args: object) -> None:
        pass


def bootstrap(config: dict) -> None:
    from django.contrib.auth import get_user_model
    from oauth2_provider.models import Application

    User = get_user_model()
    for person in config["users"]:
        user, _ = User.objects.get_or_create(username=person["username"], defaults={"email": person.get("email", "")})
        user.set_password(person["password"])
        user.save()
    Application.objects.update_or_create(
        client_id=config["client_id"],
        defaults={
            "name": "Baloo",
            "client_secret": config["client_secret"],
            "client_type": Application.CLIENT_CONFIDENTIAL,
            "authorization_grant_type": Application.GRANT_AUTHORIZATION_CODE,
            "redirect_uris": " ".join(config["redirect_uris"]),
            "post_logout_redirect_uris": " ".join(config.get("post_logout_redirect_uris", [])),
            "algorithm": Application.RS256_ALGORITHM,
            "skip_authorization": True,
        },
    )


def main() -> None:
    config_path = Path(sys.argv[1]).resolve()
    config = json.loads(config_path.read_text())
    os.environ["PROVIDER_CONFIG"] = str(config_path)
    os.environ["PROVIDER_DB"] = str(config_path.with_suffix(".sqlite3"))
    os.environ["PROVIDER_KEY"] = config["key_file"]
    os.environ["DJANGO_SETTINGS_MODULE"] = "provider_settings"
    sys.path.insert(0, str(HERE))

    import django
    from django.core.management import call_command
    from django.core.wsgi import get_wsgi_application

    django.setup()
    call_command("migrate", verbosity=0, interactive=False)
    bootstrap(config)
    server = make_server("127.0.0.1", 0, with_outage(get_wsgi_application(), config_path), server_class=ThreadingServer, handler_class=QuietHandler)
    print(f"PORT {server.server_port}", flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
