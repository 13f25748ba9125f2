"""Password hashing with argon2id (argon2-cffi) and the strength rule (zxcvbn)."""

from __future__ import annotations

import base64

from argon2 import PasswordHasher, extract_parameters, low_level
from argon2.exceptions import InvalidHashError, VerificationError
from zxcvbn import zxcvbn

MIN_LENGTH = 10
MAX_LENGTH = 256
MIN_SCORE = 3  # zxcvbn's 0-4: 3 is "safely unguessable: moderate protection from offline attack"


class Passwords:
    def __init__(self, time_cost: int = 3, memory_cost: int = 65536) -> None:
        self._hasher = PasswordHasher(time_cost=time_cost, memory_cost=memory_cost)
        # Verified when the email is unknown, so both answers take the same time.
        self._dummy = self._hasher.hash("tenantdesk-timing-equaliser")

    def hash(self, password: str) -> str:
        return self._hasher.hash(password)

    def candidate(self, template: str | None, password: str) -> str:
        """The hash ``password`` would have under ``template`` (a stored hash's algorithm,
        cost and salt, its digest masked): the database compares it with the stored hash,
        so the hash itself never leaves the database. Without a template (no such account)
        the same work is done on the dummy, so both answers take the same time."""
        try:
            params = extract_parameters(template or self._dummy)
            salt = (template or self._dummy).rsplit("$", 2)[1]
        except (InvalidHashError, IndexError):
            params, salt = extract_parameters(self._dummy), self._dummy.rsplit("$", 2)[1]
        encoded = low_level.hash_secret(
            password.encode(), base64.b64decode(salt + "=" * (-len(salt) % 4)),
            time_cost=params.time_cost, memory_cost=params.memory_cost,
            parallelism=params.parallelism, hash_len=params.hash_len, type=params.type,
            version=params.version,
        ).decode()
        return encoded if template else ""

    def verify(self, stored_hash: str | None, password: str) -> bool:
        try:
            return self._hasher.verify(stored_hash or self._dummy, password) and bool(stored_hash)
        except (VerificationError, InvalidHashError):
            return False


def password_problem(password: str, user_inputs: tuple[str, ...] = ()) -> str | None:
    """A clear reason a new password is refused, or None.

    Besides the length, zxcvbn estimates how guessable it is (common and leaked passwords,
    keyboard patterns, dates, the person's own name and email): below ``MIN_SCORE`` it is
    refused with zxcvbn's own hint."""
    if len(password) < MIN_LENGTH:
        return f"Use at least {MIN_LENGTH} characters."
    if len(password) > MAX_LENGTH:
        return f"Use at most {MAX_LENGTH} characters."
    inputs = [part for value in user_inputs if value
              for part in (value, *value.replace("@", " ").replace(".", " ").split())]
    result = zxcvbn(password[:100], user_inputs=inputs[:20])
    if result["score"] < MIN_SCORE:
        feedback = result.get("feedback") or {}
        hint = feedback.get("warning") or " ".join(feedback.get("suggestions") or [])
        return ("This password is too easy to guess. " + (hint or "Add more words.")).strip()
    return None
