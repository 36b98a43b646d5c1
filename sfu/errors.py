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


class DrainingError(SfuError):
    """The node is draining: it keeps its rooms until they end but starts no new one."""


# -- the one error table -------------------------------------------------------------------
# Every kind of failure once: its exception, its name on the worker channel (a failed
# response's "kind"), and what the HTTP APIs answer for it (Twirp code and status, as
# twitchtv/twirp defines them).  The C data plane's return codes map onto these names in
# sfu.native; auth failures (sfu.auth.AuthError) carry their own 401/403.

class ErrorKind:
    __slots__ = ("name", "exception", "twirp_code", "http_status")

    def __init__(self, name: str, exception: type[SfuError], twirp_code: str, http_status: int) -> None:
        self.name, self.exception, self.twirp_code, self.http_status = name, exception, twirp_code, http_status

    def __repr__(self) -> str:
        return f"ErrorKind({self.name})"


ERROR_KINDS: tuple[ErrorKind, ...] = (
    ErrorKind("NotFound", NotFoundError, "not_found", 404),
    ErrorKind("AlreadyExists", AlreadyExistsError, "already_exists", 409),
    ErrorKind("InvalidState", InvalidStateError, "failed_precondition", 412),
    ErrorKind("InvalidArgument", ProtocolError, "invalid_argument", 400),
    ErrorKind("LimitReached", LimitReachedError, "resource_exhausted", 429),
    ErrorKind("WorkerDied", WorkerDiedError, "unavailable", 503),
    ErrorKind("Draining", DrainingError, "unavailable", 503),
    ErrorKind("Native", NativeError, "internal", 500),
    ErrorKind("Error", SfuError, "internal", 500),            # last: any other failure
)
BY_NAME: dict[str, ErrorKind] = {k.name: k for k in ERROR_KINDS}
# Python's own argument errors (bad field types, a schema violation) are invalid arguments
_ARGUMENT_ERRORS = (TypeError, ValueError, KeyError)


def kind_of(exc: BaseException) -> ErrorKind:
    """the table's entry for an exception (the most specific class first)"""
    for k in ERROR_KINDS[:-1]:
        if isinstance(exc, k.exception):
            return k
    if isinstance(exc, _ARGUMENT_ERRORS):
        return BY_NAME["InvalidArgument"]
    return ERROR_KINDS[-1]


def from_kind(name: str, message: str) -> SfuError:
    """the exception for a failed response's kind (an unknown kind is a plain SfuError)"""
    return BY_NAME.get(name, ERROR_KINDS[-1]).exception(message)
