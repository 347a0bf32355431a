"""The store's side of the workspace: users with a role, and API tokens kept only as hashes.

A token is a random secret shown once; the store keeps its sha256 and nothing else.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any, Literal, cast

from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError

from koppel import clock
from koppel.errors import UsageError
from koppel.i18n import LANGUAGES
from koppel.store import tables as t
from koppel.store.base import Repository

Role = Literal["viewer", "operator", "admin"]
ROLES: tuple[Role, ...] = ("viewer", "operator", "admin")
TOKEN_PREFIX = "kp_"
_TOUCH_EVERY = timedelta(seconds=60)  # last_used_at is refreshed at most once a minute per token


def hash_token(token: str) -> str:
    """The only form in which a token is stored."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


@dataclass(frozen=True)
class UserRow:
    id: int
    name: str
    role: Role
    created_at: datetime
    disabled: bool
    language: str | None = None  # en | de | nl as the user chose it; None: the browser's


@dataclass(frozen=True)
class TokenRow:
    id: int
    user: str
    label: str | None
    created_at: datetime
    last_used_at: datetime | None
    revoked: bool


def _user(row: Any) -> UserRow:
    return UserRow(row.id, row.name, cast(Role, row.role), row.created_at, bool(row.disabled), row.language)


_TOKEN_COLUMNS = (t.api_tokens.c.id, t.users.c.name, t.api_tokens.c.label, t.api_tokens.c.created_at,
                  t.api_tokens.c.last_used_at, t.api_tokens.c.revoked)


def _token(row: Any) -> TokenRow:
    return TokenRow(row[0], row[1], row[2], row[3], row[4], bool(row[5]))


class Users(Repository):
    def add(self, name: str, role: str) -> UserRow:
        if role not in ROLES:
            raise UsageError(f"role {role!r} is not one of {', '.join(ROLES)}",
                             hint="viewers read, operators also sync and fix, admins also manage users")
        if not name.strip():
            raise UsageError("a user needs a name", hint="e.g. `koppel users add anna --role viewer`")
        try:
            with self.begin() as conn:
                conn.execute(t.users.insert().values(name=name, role=role, created_at=clock.now(),
                                                     disabled=False))
        except IntegrityError:
            raise UsageError(f"user {name!r} exists already", hint="list them with `koppel users list`") from None
        found = self.get(name)
        assert found is not None
        return found

    def get(self, name: str) -> UserRow | None:
        with self.connect() as conn:
            row = conn.execute(select(t.users).where(t.users.c.name == name)).first()
        return _user(row) if row is not None else None

    def list(self) -> list[UserRow]:
        with self.connect() as conn:
            return [_user(r) for r in conn.execute(select(t.users).order_by(t.users.c.id))]

    def set_disabled(self, name: str, disabled: bool) -> UserRow:
        self.existing(name)
        with self.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.name == name).values(disabled=disabled))
        return self.existing(name)

    def set_language(self, name: str, language: str | None) -> UserRow:
        """The language the user chose on the page (en, de, nl), or None for the browser's."""
        if language is not None and language not in LANGUAGES:
            raise UsageError(f"language {language!r} is not one of {', '.join(LANGUAGES)}",
                             hint="choose en, de or nl")
        self.existing(name)
        with self.begin() as conn:
            conn.execute(update(t.users).where(t.users.c.name == name).values(language=language))
        return self.existing(name)

    def existing(self, name: str) -> UserRow:
        found = self.get(name)
        if found is None:
            raise UsageError(f"no user {name!r}", hint="add one with `koppel users add NAME --role ROLE`")
        return found

class Tokens(Repository):
    def create(self, user: str, label: str | None = None) -> tuple[TokenRow, str]:
        """A new token for `user`: its row and the secret, which is never seen again."""
        owner = Users(self.engine).existing(user)
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        with self.begin() as conn:
            token_id = conn.execute(t.api_tokens.insert().values(
                user_id=owner.id, token_hash=hash_token(secret), label=label, created_at=clock.now(),
                revoked=False).returning(t.api_tokens.c.id)).scalar_one()
        return self._existing_token(int(token_id)), secret

    def list(self, user: str | None = None) -> list[TokenRow]:
        query = (select(*_TOKEN_COLUMNS).join(t.users, t.users.c.id == t.api_tokens.c.user_id)
                 .order_by(t.api_tokens.c.id))
        if user is not None:
            query = query.where(t.users.c.name == user)
        with self.connect() as conn:
            return [_token(r) for r in conn.execute(query)]

    def revoke(self, token_id: int) -> TokenRow:
        self._existing_token(token_id)
        with self.begin() as conn:
            conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id).values(revoked=True))
        return self._existing_token(token_id)

    def _existing_token(self, token_id: int) -> TokenRow:
        query = (select(*_TOKEN_COLUMNS).join(t.users, t.users.c.id == t.api_tokens.c.user_id)
                 .where(t.api_tokens.c.id == token_id))
        with self.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            raise UsageError(f"no token {token_id}", hint="list them with `koppel tokens list`")
        return _token(row)

    def user_for(self, secret: str) -> UserRow | None:
        """The active user a presented token belongs to; None if unknown, revoked or disabled."""
        query = (select(t.api_tokens.c.id, t.api_tokens.c.last_used_at, t.users)
                 .join(t.users, t.users.c.id == t.api_tokens.c.user_id)
                 .where(t.api_tokens.c.token_hash == hash_token(secret),
                        t.api_tokens.c.revoked.is_(False), t.users.c.disabled.is_(False)))
        with self.connect() as conn:
            row = conn.execute(query).first()
        if row is None:
            return None
        self._touch(row[0], row[1])
        return _user(row)

    def language_of(self, secret: str) -> str | None:
        """The language the user of a presented token chose; None if none or no such user."""
        query = (select(t.users.c.language).join(t.api_tokens, t.users.c.id == t.api_tokens.c.user_id)
                 .where(t.api_tokens.c.token_hash == hash_token(secret), t.api_tokens.c.revoked.is_(False),
                        t.users.c.disabled.is_(False)))
        with self.connect() as conn:
            found: str | None = conn.execute(query).scalar()
        return found

    def _touch(self, token_id: int, last_used: datetime | None) -> None:
        now = clock.now()
        if last_used is not None and last_used.tzinfo is None:
            last_used = last_used.replace(tzinfo=now.tzinfo)  # SQLite hands back naive datetimes
        if last_used is None or now - last_used >= _TOUCH_EVERY:
            with self.begin() as conn:
                conn.execute(update(t.api_tokens).where(t.api_tokens.c.id == token_id)
                             .values(last_used_at=now))
