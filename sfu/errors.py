"""Exceptions of the SFU, one per kind of failure."""


class SfuError(Exception):
    """Base class."""


class InvalidStateError(SfuError):
    """The object is closed or not ready for this call."""


class NotFoundError(SfuError):
    """No object with that id."""


class AlreadyExistsError(SfuError):
    """An object with that id (or address, or SSRC) already exists."""


class ProtocolError(SfuError):
    """Bad input from the network or from a client."""


class WorkerDiedError(SfuError):
    """The media worker handling the request died."""


class LimitReachedError(SfuError):
    """A configured limit does not allow this."""


class NativeError(SfuError):
    """The C data plane refused a command."""
