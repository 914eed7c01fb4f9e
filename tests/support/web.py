"""Signing in to the web app as a browser does: the form's CSRF token, then the cookie."""

from __future__ import annotations

import re

from fastapi.testclient import TestClient

USER, PASSWORD = "ann", "s3cret-pass"


def csrf(html: str) -> str:
    """The CSRF token of the first form on a page."""
    found = re.search(r'name="csrf_token" value="([^"]+)"', html)
    assert found is not None, "the page has no form with a csrf_token"
    return found[1]


def sign_in(client: TestClient, username: str = USER, password: str = PASSWORD) -> None:
    client.post(
        "/login",
        data={
            "username": username,
            "password": password,
            "csrf_token": csrf(client.get("/login").text),
        },
        follow_redirects=False,
    )
