"""The rules of a player's profile, one place for every way in: a score event's
`display_name`, the profile API, the admin.

A display name is trimmed, then must be 1 to 100 characters with no control characters
(newlines and tabs included: it is shown on one line) and no invisible format characters
(Unicode category Cf: zero-width spaces and joiners, bidirectional overrides), which would
let one player's name pass for another's. Metadata is a JSON object of at
most 4 KB encoded, for what a game wants to keep with a player (avatar, country, level).
"""

from __future__ import annotations

import unicodedata

import msgspec

PLAYER_ID_MAX_LENGTH = 64
DISPLAY_NAME_MAX_LENGTH = 100
METADATA_MAX_BYTES = 4096

_encode = msgspec.json.Encoder().encode


def player_id_problem(player_id: str) -> str | None:
    """What is wrong with a player id given to the API (a path or a body), or None. Ids
    are free-form, but PostgreSQL text holds no NUL and an id of spaces names nobody."""
    if (
        not player_id
        or player_id.isspace()
        or len(player_id) > PLAYER_ID_MAX_LENGTH
        or "\x00" in player_id
    ):
        return f"Give 1 to {PLAYER_ID_MAX_LENGTH} characters, not only spaces, no NUL."
    return None


def display_name_problem(name: str) -> str | None:
    """What is wrong with a trimmed display name ("is 101 characters, at most 100"), or
    None when it will do."""
    if not name:
        return "must not be empty"
    if len(name) > DISPLAY_NAME_MAX_LENGTH:
        return f"is {len(name)} characters, at most {DISPLAY_NAME_MAX_LENGTH}"
    if name.isprintable():  # no character of a category below (the usual name: fast)
        return None
    categories = {unicodedata.category(char) for char in name}
    if categories & {"Cc", "Cs"}:
        return "holds control characters or unpaired surrogates"
    if "Cf" in categories:
        return "holds invisible format characters (zero-width, bidirectional overrides)"
    return None


def metadata_problem(metadata: object) -> str | None:
    """What is wrong with a profile's metadata, or None when it will do."""
    if not isinstance(metadata, dict):
        return "must be a JSON object"
    size = len(_encode(metadata))
    if size > METADATA_MAX_BYTES:
        return f"is {size} bytes as JSON, at most {METADATA_MAX_BYTES}"
    return None
