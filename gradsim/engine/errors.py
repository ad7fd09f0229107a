"""The one exception type for input gradsim refuses: a bad file, argument or setting."""


class InputError(ValueError):
    """Raised with a one-line message that says what is wrong (and, for files, which file)."""
