"""A preset's story above the map: the whole text as an info box, or in presentation mode its
title and first sentence with the rest one click away (an HTML <details>), so that a projector
gives the map the window's height (the map component refits when it opens or closes)."""

from __future__ import annotations

import html
import re

import streamlit as st

# the end of a sentence: a full stop and a space (not "et al. "), or a Chinese full stop
SENTENCE_END = re.compile(r"(?<!al\.)(?<=[.!?])\s+|(?<=[。！？])")
ITALIC = re.compile(r"\*([^*]+)\*")  # the stories' one piece of Markdown

CSS = """<style>
.ov-story {background: rgba(28, 131, 225, 0.1); color: rgb(0, 66, 128); border-radius: 0.5rem;
           padding: 0.45rem 0.9rem; font-size: 1.2rem; line-height: 1.45;}
.ov-story summary {cursor: pointer; list-style: none;}
.ov-story summary::-webkit-details-marker {display: none;}
.ov-story .ov-story-more {white-space: nowrap; margin-left: 0.4em; text-decoration: underline;
                          text-underline-offset: 0.2em; opacity: 0.8;}
.ov-story[open] .ov-story-more {display: none;}
.ov-story p {margin: 0.3rem 0 0 0;}
</style>"""


def lead(story: str) -> tuple[str, str]:
    """(first sentence, the rest) of `story`; the rest is "" for a one-sentence story."""
    parts = SENTENCE_END.split(story.strip(), maxsplit=1)
    return (parts[0].strip(), parts[1].strip() if len(parts) > 1 else "")


def _html(text: str) -> str:
    """Story text (Markdown's *italics* at most) as HTML."""
    return ITALIC.sub(r"<i>\1</i>", html.escape(text))


def folded_html(title: str, story: str, more: str) -> str:
    """The story as a <details> box: its summary the title and the first sentence (then `more`,
    the words that open it), its body the rest."""
    first, rest = lead(story)
    summary = f"<b>{html.escape(title)}</b> — {_html(first)}"
    if not rest:
        return f'{CSS}<div class="ov-story">{summary}</div>'
    return (f'{CSS}<details class="ov-story"><summary>{summary}'
            f'<span class="ov-story-more">{html.escape(more)}</span></summary><p>{_html(rest)}</p></details>')


def show(title: str, story: str, folded: bool, more: str) -> None:
    """The story in the page: whole (an st.info box) or folded (presentation mode)."""
    if folded:
        st.html(folded_html(title, story, more))
    else:
        st.info(f"**{title}** — {story}", icon=":material/school:")
