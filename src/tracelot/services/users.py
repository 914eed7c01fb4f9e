"""Web users: create them, check a password. Hashes are argon2 (argon2-cffi)."""

from __future__ import annotations

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from tracelot.db.base import utcnow
from tracelot.db.models.users import User
from tracelot.domain import errors

_hasher = PasswordHasher()
# Verified against when the user name is unknown, so both cases take the same time.
_DUMMY = _hasher.hash("not a password")
DEMO_USERNAME = "demo"
DEMO_PASSWORD = "demo"


def create_user(session: Session, username: str, password: str) -> User:
    """A new user; refuses an empty or taken name and a password shorter than 4."""
    username = (username or "").strip()
    if not username:
        raise errors.refuse(errors.VALIDATION_FAILED, "Give the user a name.", path="username")
    if len(password or "") < 4:
        raise errors.refuse(
            errors.VALIDATION_FAILED,
            "The password is too short: use at least 4 characters.",
            path="password",
        )
    if session.scalar(select(User.id).where(User.username == username)) is not None:
        raise errors.refuse(
            errors.DUPLICATE,
            f"A user named '{username}' exists already: choose another name.",
            path="username",
        )
    user = User(username=username, password_hash=_hasher.hash(password))
    session.add(user)
    session.flush()
    return user


def authenticate(session: Session, username: str, password: str) -> User | None:
    """The active user with that name and password, or None (never says which was wrong)."""
    user = session.scalar(select(User).where(User.username == (username or "").strip()))
    try:
        _hasher.verify(user.password_hash if user else _DUMMY, password or "")
    except (VerificationError, InvalidHashError):
        return None
    if user is None or not user.is_active:
        return None
    if _hasher.check_needs_rehash(user.password_hash):
        user.password_hash = _hasher.hash(password)
    user.last_login_at = utcnow()
    return user


def get_user(session: Session, user_id: int) -> User | None:
    user = session.get(User, user_id)
    return user if user is not None and user.is_active else None


def ensure_demo_user(session: Session) -> User:
    """The demo user that ``make run`` signs in with (demo / demo)."""
    user = session.scalar(select(User).where(User.username == DEMO_USERNAME))
    return user or create_user(session, DEMO_USERNAME, DEMO_PASSWORD)
