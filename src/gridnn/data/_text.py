"""Short, one-line descriptions of what went wrong while parsing an untrusted file."""

MAX_DETAIL = 200


def brief(error: BaseException) -> str:
    """``"Type: message"`` on one line, cut to MAX_DETAIL characters: parser messages can quote
    arbitrary (multi-line, megabyte-long) bytes of the file, and DataError is one line."""
    text = " ".join(str(error).split())
    if len(text) > MAX_DETAIL:
        text = text[:MAX_DETAIL] + "..."
    return f"{type(error).__name__}: {text}"


def quote(text: str) -> str:
    """A name taken from a file, printable and short."""
    return ascii(text)[1:-1][:80]
