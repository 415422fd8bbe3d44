"""The id format of users and sessions: Meteor/Rocket.Chat's 17 characters of one alphabet."""

from __future__ import annotations

import secrets

ID_ALPHABET = "23456789ABCDEFGHJKLMNPQRSTWXYZabcdefghijkmnopqrstuvwxyz"
ID_LENGTH = 17


def new_id() -> str:
    """A new random id (from the OS CSPRNG: ids must not be guessable from one another)."""
    return "".join(secrets.choice(ID_ALPHABET) for _ in range(ID_LENGTH))
