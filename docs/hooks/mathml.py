"""MkDocs hook (``hooks:`` in mkdocs.yml): render the pages' TeX to MathML while the site is built.

``pymdownx.arithmatex`` (generic mode) keeps each formula as ``<span class="arithmatex">\\(...\\)</span>``
or ``<div class="arithmatex">\\[...\\]</div>``; this hook replaces them, on the guide pages and in the API
reference alike, with MathML from the pure-Python ``latex2mathml``. Browsers draw MathML themselves, so a
page needs no script, font or stylesheet from the network to show its maths, and the site works offline.
"""

from __future__ import annotations

import html
import re
from typing import Any

from latex2mathml.converter import convert

_MATH = re.compile(
    r'<(?P<tag>span|div) class="arithmatex">\s*'
    r"(?:\\\((?P<inline>.*?)\\\)|\\\[(?P<block>.*?)\\\])"
    r"\s*</(?P=tag)>",
    re.S,
)


def tex_to_mathml(match: re.Match[str]) -> str:
    """One arithmatex element as MathML, inline or display as it was written."""
    display = "inline" if match.group("inline") is not None else "block"
    tex = html.unescape(match.group("inline") if display == "inline" else match.group("block"))
    mathml = convert(tex.strip(), display=display)
    if display == "block":
        return f'<div class="arithmatex">{mathml}</div>'
    return f'<span class="arithmatex">{mathml}</span>'


def render_math(page_html: str) -> str:
    """Replace every arithmatex formula of a rendered page by MathML."""
    return _MATH.sub(tex_to_mathml, page_html)


def on_page_content(html_text: str, **kwargs: Any) -> str:
    return render_math(html_text)
