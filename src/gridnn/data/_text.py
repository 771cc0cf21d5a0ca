"""Short, one-line descriptions of what went wrong while parsing an untrusted file."""

import re

MAX_DETAIL = 200
# '<_io.BytesIO object at 0x7f...>' in a parser's message means nothing to the user
_OBJECT_REPR = re.compile(r"<[\w.]+ object at 0x[0-9a-fA-F]+>")


def brief(error: BaseException) -> str:
    """``"Type: message"`` on one line, cut to MAX_DETAIL characters: parser messages can quote
    arbitrary (multi-line, megabyte-long) bytes of the file, and DataError is one line."""
    text = _OBJECT_REPR.sub("the file", " ".join(str(error).split()))
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL] + "..."
    return f"{type(error).__name__}: {text}"


def quote(text: str) -> str:
    """A name taken from a file, printable and short."""
    return ascii(text)[1:-1][:80]
