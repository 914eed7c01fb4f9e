"""API tokens: random secrets shown once, stored as SHA-256 hashes."""

from __future__ import annotations

import hashlib
import secrets

from sqlalchemy import select
from sqlalchemy.orm import Session

from tracelot.db.models import ApiToken


def _hash(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def create_token(session: Session, name: str) -> str:
    token = "tl_" + secrets.token_urlsafe(32)
    session.add(ApiToken(name=name, token_hash=_hash(token)))
    session.flush()
    return token


def token_owner(session: Session, token: str) -> str | None:
    """The name the token was created for, or None when it is unknown."""
    return session.scalar(select(ApiToken.name).where(ApiToken.token_hash == _hash(token)))
