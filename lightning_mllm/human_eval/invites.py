"""Rater invites: one unguessable token per rater, kept only as its SHA-256, revocable.

``add_invite`` makes a token with ``secrets.token_urlsafe(32)`` (256 random bits), which the
``invite`` command prints once inside the rater's link; the invites file keeps only the token's
SHA-256. A plain, unsalted, fast hash is enough: salts and slow hashes (scrypt, PBKDF2) protect
low-entropy passwords from precomputed tables and guessing, but 256 random bits can be neither
guessed nor precomputed, so they would only slow every request down. Whoever reads the file learns
the raters' names, not a token that would let them rate.

The file lives next to the judgments file (``judgments.jsonl`` -> ``judgments.invites.json``). It is
replaced atomically (temp file, fsync, rename), readable by its owner only, and changed under an
exclusive lock on a sidecar ``.lock`` file so two commands cannot lose each other's change. The
server reads it again on every request, so an invite or a revocation takes effect at once.
"""

from __future__ import annotations

import fcntl
import hashlib
import hmac
import json
import os
import re
import secrets
import unicodedata
from contextlib import contextmanager
from dataclasses import asdict, dataclass, replace
from datetime import datetime, timezone
from pathlib import Path
from typing import Iterator, Sequence

from lightning_mllm.files import atomic_write_json
from lightning_mllm.human_eval.judgments_store import MAX_RATER_CHARS

INVITES_FORMAT = "lightning-mllm-invites/1"
TOKEN_BYTES = 32
MAX_TOKEN_CHARS = 200  # far above token_urlsafe(32)'s 43; longer headers are refused unhashed


class InviteError(ValueError):
    """An invites file or command that cannot be used; the message names the file or rater."""


@dataclass(frozen=True)
class Invite:
    """One rater's invite: the token's SHA-256 (hex), when it was made and when revoked (or None)."""

    rater: str
    token_sha256: str
    created: str
    revoked: str | None = None


def invites_path(judgments_path: str | os.PathLike) -> Path:
    """Where the invites of a judgments file live: beside it, ``<stem>.invites.json``."""
    judgments = Path(judgments_path)
    return judgments.with_name(judgments.stem + ".invites.json")


def token_sha256(token: str) -> str:
    """The stored form of a token."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def check_rater_name(name: str) -> str:
    """The stripped name; ``InviteError`` when empty, too long or holding control characters."""
    rater = name.strip() if isinstance(name, str) else ""
    if not rater or len(rater) > MAX_RATER_CHARS:
        raise InviteError(f"rater name {name!r}: 1 to {MAX_RATER_CHARS} characters needed")
    if any(unicodedata.category(char).startswith("C") for char in rater):
        raise InviteError(f"rater name {name!r}: no control characters")
    return rater


def load_invites(path: str | os.PathLike) -> list[Invite]:
    """Every invite in the file, revoked ones included; no file yet means no invites."""
    path = Path(path)
    try:
        data = json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        return []
    except (OSError, UnicodeDecodeError, json.JSONDecodeError) as err:
        raise InviteError(f"{path}: not a readable invites file ({err})") from err
    if not isinstance(data, dict) or data.get("format") != INVITES_FORMAT or not isinstance(data.get("invites"), list):
        raise InviteError(f"{path}: not an invites file (expected format {INVITES_FORMAT!r})")
    invites = []
    for number, entry in enumerate(data["invites"], start=1):
        try:
            invite = Invite(**entry)
        except TypeError as err:
            raise InviteError(f"{path}: invite {number} is malformed ({err})") from err
        if not isinstance(invite.rater, str) or not isinstance(invite.token_sha256, str) or \
                not re.fullmatch("[0-9a-f]{64}", invite.token_sha256):
            raise InviteError(f"{path}: invite {number} needs a rater name and a hex SHA-256")
        invites.append(invite)
    return invites


def _save(path: Path, invites: Sequence[Invite]) -> None:
    # Owner-only: the hashes are not secrets, but nobody else has a reason to read the list of raters.
    atomic_write_json(path, {"format": INVITES_FORMAT, "invites": [asdict(i) for i in invites]}, mode=0o600)


@contextmanager
def _locked(path: Path) -> Iterator[list[Invite]]:
    """The invites, under an exclusive lock held until the block ends (read-modify-write)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path.with_name(path.name + ".lock"), os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX)
        yield load_invites(path)
    finally:
        os.close(fd)  # closing releases the lock


def _now() -> str:
    return datetime.now(timezone.utc).isoformat(timespec="seconds")


def add_invite(path: str | os.PathLike, rater: str) -> str:
    """Adds an invite for ``rater`` and returns its token (the only time it exists in clear).

    Raises:
        InviteError: The rater already holds an active invite (revoke it first: a lost link
            cannot be shown again, only replaced).
    """
    path, rater = Path(path), check_rater_name(rater)
    with _locked(path) as invites:
        if any(i.rater == rater and i.revoked is None for i in invites):
            raise InviteError(f"{rater!r} already has an active invite in {path}; to replace a lost link, "
                              f"revoke it (python -m lightning_mllm.human_eval revoke --rater {rater!r} ...) "
                              "and invite again")
        token = secrets.token_urlsafe(TOKEN_BYTES)
        _save(path, [*invites, Invite(rater, token_sha256(token), _now())])
    return token


def revoke(path: str | os.PathLike, rater: str) -> int:
    """Revokes the rater's active invite(s); returns how many. Their judgments stay."""
    path, rater = Path(path), check_rater_name(rater)
    with _locked(path) as invites:
        active = [i for i in invites if i.rater == rater and i.revoked is None]
        if not active:
            known = sorted({i.rater for i in invites if i.revoked is None})
            raise InviteError(f"{path}: no active invite for {rater!r} (active: {', '.join(known) or 'none'})")
        when = _now()
        _save(path, [replace(i, revoked=when) if i in active else i for i in invites])
    return len(active)


def rater_for(invites: Sequence[Invite], token: str | None) -> str | None:
    """The rater whose active invite ``token`` is, or None.

    Every invite is compared, each with ``hmac.compare_digest``, so the time taken says nothing
    about which invite or how much of a hash matched.
    """
    if not token or len(token) > MAX_TOKEN_CHARS:
        return None
    presented = token_sha256(token)
    found = None
    for invite in invites:
        if hmac.compare_digest(presented, invite.token_sha256) and invite.revoked is None:
            found = invite.rater
    return found
