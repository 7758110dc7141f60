"""The API's JSON parser: DRF's, with a bound on how deeply a body may nest.

Python's json module recurses once per level, so a body nested about a thousand levels deep
raises RecursionError (a 500), and one a little shallower parses but fails later wherever
the value is walked again (a str() in a field's error message, the encoder, PostgreSQL's
jsonb). No body the API takes needs more than a few levels (a list of events, a player's
metadata object), so one nested deeper than MAX_JSON_DEPTH is refused with a 400 like any
malformed JSON.
"""

from __future__ import annotations

import codecs

from rest_framework import parsers
from rest_framework.exceptions import ParseError
from rest_framework.utils import json

MAX_JSON_DEPTH = 32
TOO_DEEP = f"JSON parse error - nested deeper than {MAX_JSON_DEPTH} levels."


def nested_deeper_than(data: object, limit: int) -> bool:
    """Whether `data` holds lists and objects more than `limit` levels deep (`[]` is one
    level, `[[]]` two), found level by level without recursion."""
    level = [data]
    for _ in range(limit):
        level = [
            child
            for node in level
            if isinstance(node, list | dict)
            for child in (node.values() if isinstance(node, dict) else node)
        ]
        if not level:
            return False
    return any(isinstance(node, list | dict) for node in level)


class JSONParser(parsers.JSONParser):
    def parse(self, stream, media_type=None, parser_context=None):
        encoding = parsers.get_encoding(parser_context or {})
        body = stream.read()
        try:
            text = codecs.decode(body, encoding)
            parse_constant = json.strict_constant if self.strict else None
            data = json.loads(text, parse_constant=parse_constant)
        except ValueError as exc:  # UnicodeDecodeError and JSONDecodeError among them
            raise ParseError(f"JSON parse error - {exc}") from None
        except RecursionError:
            raise ParseError(TOO_DEEP) from None
        # A body with no more brackets than the limit cannot nest deeper (the usual case:
        # one object, a list of ids), so only larger ones are walked.
        if body.count(b"[") + body.count(b"{") > MAX_JSON_DEPTH and nested_deeper_than(
            data, MAX_JSON_DEPTH
        ):
            raise ParseError(TOO_DEEP)
        return data
