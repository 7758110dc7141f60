"""Every template of the project parses into tags and comments as its author meant: Django's
`{# #}` comments and `{% %}` tags end on the line they start, so one spread over two lines
is not a comment or a tag at all but text, shown on the page as written."""

from __future__ import annotations

from pathlib import Path

import pytest
from django.template.base import Lexer, TokenType

BASE_DIR = Path(__file__).resolve().parents[1]
TEMPLATE_DIRS = [BASE_DIR / "templates", *BASE_DIR.glob("*/templates")]
TEMPLATES = sorted(
    path for directory in TEMPLATE_DIRS for path in directory.rglob("*") if path.suffix == ".html"
)
DELIMITERS = ("{#", "#}", "{%", "%}")


def test_the_project_has_templates_to_check():
    assert len(TEMPLATES) >= 10
    assert BASE_DIR / "templates" / "leaderboards" / "_entries.html" in TEMPLATES


@pytest.mark.parametrize("path", TEMPLATES, ids=lambda p: str(p.relative_to(BASE_DIR)))
def test_no_comment_or_tag_spills_into_the_text(path):
    tokens = Lexer(path.read_text()).tokenize()
    spilled = [
        (token.lineno, token.contents.strip()[:80])
        for token in tokens
        if token.token_type is TokenType.TEXT and any(d in token.contents for d in DELIMITERS)
    ]
    assert spilled == [], (
        f"{path.name}: a comment or tag spread over lines reaches the page as text; "
        "use {% comment %}...{% endcomment %} or keep it on one line"
    )
