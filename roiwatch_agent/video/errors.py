"""The one error every frame source raises (standard library only: the dumb camera imports it)."""


class SourceError(RuntimeError):
    """The source cannot be opened or read; the message is shown in status.error as it is."""
