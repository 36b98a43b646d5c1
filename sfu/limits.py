"""Size limits on what clients and API callers may set, the same through signalling and the
server API (LiveKit's limit.* keys leave them unlimited; unbounded strings fan out to every
participant of a room, so we bound them)."""

MAX_METADATA = 512 * 1024        # bytes of participant or room metadata
MAX_ATTRIBUTES = 64 * 1024       # bytes of a participant's attributes, keys and values together
MAX_NAME = 1024                  # bytes of a participant's name


def participant_fields_problem(metadata: str = "", name: str = "", attributes: dict[str, str] | None = None) -> str:
    """what is over a limit in a participant update ("" when nothing)"""
    if len(metadata.encode()) > MAX_METADATA:
        return f"metadata exceeds the size limit ({MAX_METADATA} bytes)"
    if len(name.encode()) > MAX_NAME:
        return f"name exceeds the size limit ({MAX_NAME} bytes)"
    if sum(len(k.encode()) + len(v.encode()) for k, v in (attributes or {}).items()) > MAX_ATTRIBUTES:
        return f"attributes exceed the size limit ({MAX_ATTRIBUTES} bytes)"
    return ""
