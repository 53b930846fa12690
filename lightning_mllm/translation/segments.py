"""The tagged text an item becomes for the translator, and how a translation is parsed back.

An item is a list of segments, each a fixed English tag and a text. Rendered, every tag stands on
a line of its own and its text follows, so a text may span several lines:

    [QUESTION]
    <image>
    What is the man holding?
    [OPTION A]
    An umbrella

The translator copies the tags and translates the texts. Parsing finds the tag lines and accepts
the translation only when they are exactly the expected tags in the expected order; the option
letters, the answer numbers and the turn numbers are part of the tags, so their count and order are
checked by the same comparison. Text before the first tag (a "Here is the translation:" preamble)
is dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

# Only these names are tags, so bracketed words in ordinary text ("[USER]" in PixMo's questions,
# "[citation needed]") are never mistaken for one.
TAG_NAMES = r"QUESTION|HINT|REFERENCE|CAPTION|ANSWER(?: \d+)?|OPTION [A-J]|(?:SYSTEM|USER|ASSISTANT) \d+"
# A tag at the start of a line. A trailing colon and text on the same line are tolerated: chat
# models often write "[QUESTION]: ..." and the text is still unambiguous.
TAG_LINE = re.compile(rf"^[ \t]*\[({TAG_NAMES})\][ \t]*:?[ \t]*", re.MULTILINE)
# Path of a text inside a record: keys and list indices, e.g. ("messages", 2, "content").
FieldPath = tuple[str | int, ...]


class TranslationRejected(ValueError):
    """A translation (or a source item) that cannot be used; ``reason`` is a short key.

    Args:
        reason: The key counted in the summary and written to the rejects file.
        detail: What exactly was wrong, for people reading the rejects file.
    """

    def __init__(self, reason: str, detail: str):
        super().__init__(f"{reason}: {detail}")
        self.reason = reason
        self.detail = detail


@dataclass
class Segment:
    """One translatable text of an item.

    Attributes:
        tag: The tag name without brackets, e.g. ``OPTION B`` or ``USER 2``.
        text: The English text (stripped).
        paths: Where the text sits in the input record; several paths when one text occurs more
            than once (repeated VQA answers are translated once).
    """

    tag: str
    text: str
    paths: list[FieldPath] = field(default_factory=list)


def render(segments: list[Segment]) -> str:
    """The tagged text of ``segments``, the form the translator reads and writes."""
    return "\n".join(f"[{segment.tag}]\n{segment.text}" for segment in segments)


def has_tag_line(text: str) -> bool:
    """Whether ``text`` holds a line that would parse as a tag (such a source cannot be rendered)."""
    return TAG_LINE.search(text) is not None


def parse(output: str, tags: list[str]) -> list[str]:
    """The text under each tag of a translation, in order.

    Args:
        output: The translator's reply.
        tags: The tags the reply must hold, in order (those of the rendered item).

    Returns:
        One stripped text per tag.

    Raises:
        TranslationRejected: ``structure`` when the reply's tags differ from ``tags``.
    """
    matches = list(TAG_LINE.finditer(output))
    found = [match.group(1) for match in matches]
    if found != tags:
        raise TranslationRejected("structure", _mismatch(tags, found))
    ends = [match.start() for match in matches[1:]] + [len(output)]
    return [output[match.end():end].strip() for match, end in zip(matches, ends)]


def _mismatch(expected: list[str], found: list[str]) -> str:
    if not found:
        return f"no tags found; expected {len(expected)} ([{expected[0]}] first)"
    position = next((i for i, (a, b) in enumerate(zip(expected, found)) if a != b), min(len(expected), len(found)))
    wanted = f"[{expected[position]}]" if position < len(expected) else "nothing more"
    got = f"[{found[position]}]" if position < len(found) else "nothing more"
    return f"expected {len(expected)} tags, found {len(found)}; tag {position + 1}: expected {wanted}, found {got}"
