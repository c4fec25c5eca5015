"""`load_config` refuses what it cannot store or should not show, naming where, and changes nothing.

Written from the side of whoever writes the file (a builder's pull request to the configuration
repository, a typo): never a traceback, never a `javascript:` link on a public page.
"""

import copy
import json

import pytest
from django.core.management import CommandError, call_command
from django.forms import modelform_factory

from activities.models import Source
from conversion_points.models import Area, ConversionPoint
from conversion_points.services import ConfigError, config_load

pytestmark = pytest.mark.django_db

CONFIG = {
    "sources": [{"slug": "sumo", "kind": "sumo", "name": "SUMO", "options": {"products": ["firefox"]}}],
    "areas": [
        {
            "slug": "support",
            "name": {"en": "Support"},
            "target": 1500,
            "conversion_points": [
                {"slug": "sumo-answer", "source": "sumo", "types": ["sumo.answer.posted"], "name": {"en": "Answered"},
                 "next_step_url": "https://support.mozilla.org/get-involved"},
            ],
        }
    ],
}
POINT = "areas[0].conversion_points[0]"


def changed(edit) -> dict:
    config = copy.deepcopy(CONFIG)
    edit(config)
    return config


def load_refused(config) -> str:
    with pytest.raises(ConfigError) as refused:
        config_load(config=config)
    assert not Source.objects.exists() and not Area.objects.exists() and not ConversionPoint.objects.exists()
    return str(refused.value)


def test_the_valid_file_loads():
    config_load(config=CONFIG)
    assert ConversionPoint.objects.get().next_step_url == "https://support.mozilla.org/get-involved"


@pytest.mark.parametrize(
    "url", ["javascript:alert(document.cookie)", "JavaScript:alert(1)", " javascript:alert(1)", "data:text/html,<script>alert(1)</script>",
            "ftp://example.org/", "//evil.example/", "https://", "http://exa mple.org/"],
)
def test_a_next_step_link_must_be_an_http_address(url):
    message = load_refused(changed(lambda c: c["areas"][0]["conversion_points"][0].update(next_step_url=url)))
    assert message.startswith(f"{POINT}.next_step_url: ")


def test_the_admin_form_takes_only_http_next_step_links_too():
    form_class = modelform_factory(ConversionPoint, fields=["next_step_url"])
    verdicts = {url: form_class(data={"next_step_url": url}, instance=ConversionPoint()).is_valid()
                for url in ("javascript:alert(1)", "ftp://example.org/file", "https://example.org/next", "http://example.org/")}
    assert verdicts == {"javascript:alert(1)": False, "ftp://example.org/file": False,
                        "https://example.org/next": True, "http://example.org/": True}


@pytest.mark.parametrize(
    ("edit", "where"),
    [
        (lambda c: c["sources"][0].update(slug="s" * 101), "sources[0]: needs a slug of at most 100"),
        (lambda c: c["areas"][0].update(slug="a" * 101), "areas[0]: needs a slug of at most 100"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(slug="c" * 101), f"{POINT}: needs a slug of at most 100"),
        (lambda c: c["areas"][0].update(slug="support\n"), "areas[0]: needs a slug"),
        (lambda c: c["areas"][0].update(name={"en": "n" * 201}), "areas[0].name (en): Ensure this value has at most 200"),
        (lambda c: c["sources"][0].update(name="n" * 201), "sources[0].name: Ensure this value has at most 200"),
        (lambda c: c["sources"][0].update(token_env=["BALOO_TOKEN_X"]), "sources[0].token_env: must be a text"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(container="c" * 256), f"{POINT}.container: Ensure"),
        (lambda c: c["areas"][0].update(name={"en": "Sup\x00port"}), "areas[0].name.en: contains a NUL character"),
        (lambda c: c["sources"][0]["options"].update(products=["fire\x00fox"]), "sources[0].options.products[0]: contains a NUL"),
        (lambda c: c["sources"][0]["options"].update({"a\x00b": 1}), "sources[0].options: a field name contains a NUL"),
        (lambda c: c["sources"][0]["options"].update(limit=float("nan")), "sources[0].options.limit: must be a finite number"),
        (lambda c: c["areas"][0].update(name={"en": "Sup\ud800port"}), "areas[0].name.en: contains a lone surrogate"),
        (lambda c: c["sources"][0]["options"].update({"\udfff": 1}), "sources[0].options: a field name contains a lone surrogate"),
        (lambda c: c["areas"][0].update(target=2**31), "areas[0]: target must be a whole number, from 0 to 2147483647"),
        (lambda c: c["areas"][0].update(position="first"), "areas[0]: position must be a whole number"),
        (lambda c: c["areas"][0].update(position=None), "areas[0]: position must be a whole number"),
        (lambda c: c["sources"][0].update(schedule_minutes=True), "sources[0]: schedule_minutes must be a whole number of minutes"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(level=["core"]), f"{POINT}: level must be one of"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(source=["sumo"]), f"{POINT}: unknown source"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(enabled="no"), f"{POINT}: enabled must be true or false"),
        (lambda c: c["areas"][0]["conversion_points"][0].update(next_step_link="https://x.example"), f"{POINT}: unknown field next_step_link"),
        (lambda c: c["areas"][0].update(owners=["ann"]), "areas[0]: unknown field owners"),
        (lambda c: c.update(area=[], secrets={}), "unknown top-level field area, secrets (known: sources, areas, campaigns)"),
    ],
)
def test_what_cannot_be_stored_is_refused_naming_where(edit, where):
    assert load_refused(changed(edit)).startswith(where)


def test_very_deep_options_are_refused_naming_where():
    deep: dict = {}
    for _ in range(30):
        deep = {"a": deep}
    message = load_refused(changed(lambda c: c["sources"][0].update(options=deep)))
    assert message == "sources[0].options" + ".a" * 17 + ": nested more than 20 levels deep"


def test_the_command_answers_a_deep_file_a_bom_and_bad_bytes_without_a_traceback(tmp_path):
    deep = tmp_path / "deep.json"
    deep.write_text('{"sources": ' + "[" * 100_000 + "]" * 100_000 + "}")
    bom = tmp_path / "bom.json"
    bom.write_text(json.dumps(CONFIG), encoding="utf-8-sig")
    latin = tmp_path / "latin.json"
    latin.write_bytes('{"sources": [], "areas": [{"slug": "x", "name": "Assistance à"}]}'.encode("latin-1"))
    digits = tmp_path / "digits.json"
    digits.write_text('{"sources": [], "areas": [{"slug": "x", "name": "X", "target": ' + "9" * 5000 + "}]}")
    javascript = tmp_path / "javascript.json"
    javascript.write_text(json.dumps(changed(lambda c: c["areas"][0]["conversion_points"][0].update(next_step_url="javascript:alert(1)"))))

    errors = {}
    for path in (deep, latin, digits, javascript):
        with pytest.raises(CommandError) as refused:
            call_command("load_config", str(path))
        errors[path.stem] = str(refused.value)
    call_command("load_config", str(bom))

    assert errors["deep"].endswith("nested too deeply to read (a configuration needs a few levels).")
    assert errors["latin"].endswith("is not UTF-8 text (byte 60).")
    assert "is not valid JSON" in errors["digits"]
    assert errors["javascript"].endswith(f"{POINT}.next_step_url: must be an http:// or https:// address. Nothing was changed.")
    assert ConversionPoint.objects.get().slug == "sumo-answer"


def test_a_javascript_link_stored_before_the_checks_is_emptied_by_the_migration():
    from importlib import import_module

    from django.apps import apps

    config_load(config=CONFIG)
    ConversionPoint.objects.update(next_step_url="javascript:alert(1)")
    import_module("conversion_points.migrations.0007_next_step_url_http_only").forget_unsafe_links(apps, None)
    assert ConversionPoint.objects.get().next_step_url == ""
