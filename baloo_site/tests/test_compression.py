"""Pages are sent gzip-compressed to browsers that accept it (the API keeps its exact bytes), without making a secret
on the page guessable by its compressed length (BREACH): Django masks the CSRF token anew in every
answer, and its GZipMiddleware pads each answer with a random number of bytes."""

import gzip
import re

import pytest
from django.urls import reverse

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def _plain_http(settings):
    settings.SECURE_SSL_REDIRECT = False  # the test client speaks plain HTTP


def test_a_page_is_compressed_for_a_browser_that_accepts_gzip(client):
    response = client.get(reverse("dashboard:how_we_count"), HTTP_ACCEPT_ENCODING="gzip, deflate, br")
    assert response.status_code == 200
    assert response["Content-Encoding"] == "gzip" and "Accept-Encoding" in response["Vary"]
    page = gzip.decompress(response.content).decode()
    assert "<h1>How we count</h1>" in page
    assert len(response.content) < len(page.encode()) / 2


def test_a_client_that_does_not_ask_gets_it_plain(client):
    response = client.get(reverse("dashboard:how_we_count"))
    assert not response.has_header("Content-Encoding")
    assert "<h1>How we count</h1>" in response.content.decode()


def test_the_api_keeps_its_exact_bytes(client):
    response = client.get("/api/v1/schema/", HTTP_ACCEPT_ENCODING="gzip")
    assert response.status_code == 200 and not response.has_header("Content-Encoding")
    assert b"/api/v1/metrics/summary/" in response.content


def test_the_csrf_token_is_masked_anew_in_every_compressed_page(client):
    tokens, sizes = [], set()
    for _ in range(5):
        response = client.get(reverse("community:integration-request"), HTTP_ACCEPT_ENCODING="gzip")
        assert response["Content-Encoding"] == "gzip"
        page = gzip.decompress(response.content).decode()
        tokens.append(re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', page)[1])
        sizes.add(len(response.content))
    assert len(set(tokens)) == len(tokens)  # the same secret, never the same bytes on the page
    assert len(sizes) > 1  # random padding: the length says nothing exact
