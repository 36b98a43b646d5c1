"""The Python API of the server: run it in-process, follow its events, manage its rooms and
move media into and out of them.

    import sfu.control

    async with sfu.control.embed(port=7880) as server:
        async for event in server.events("data_received"):
            if b"spam" in event.data:
                await server.rooms.remove_participant(event.room.name, event.participant.identity)

- `embed()` / `EmbeddedServer`: the server (`sfu serve` in this process);
- `server.events()`, `server.on()`: `Event`s (room_started, room_finished,
  participant_joined, participant_left, participant_connection_aborted, track_published,
  track_unpublished: what the webhooks carry; and data_received);
- `server.rooms` (`Rooms`): the RoomService operations of the server API, without HTTP;
- `server.dispatch` (`Dispatch`): agent dispatches (AgentDispatchService), without HTTP;
- `server.media` (`Media`): plain RTP transports (`PlainTransport`, `Producer`, `Consumer`);
- `record()` and `ingest()`: a room's tracks to files, an RTP stream into a room, with ffmpeg;
- `RemoteServer`: a running server through its HTTP APIs, with the same `rooms`, `dispatch`
  and `media` (`RemoteMedia`, `RemotePlainTransport`, `RemoteProducer`, `RemoteConsumer`).

Everything else under `sfu` is internal.
"""

from .events import EVENTS, Event, EventStream
from .media import Codec, Consumer, Media, PlainTransport, Producer
from .recording import Ingest, Recording, TrackRecording, ingest, record
from .remote import RemoteConsumer, RemoteMedia, RemotePlainTransport, RemoteProducer, RemoteServer
from .rooms import Dispatch, Rooms
from .server import EmbeddedServer, embed, settings
from ..api.client import TwirpError

__all__ = ["EVENTS", "Codec", "Consumer", "Dispatch", "EmbeddedServer", "Event", "EventStream", "Ingest", "Media",
           "PlainTransport", "Producer", "Recording", "RemoteConsumer", "RemoteMedia", "RemotePlainTransport",
           "RemoteProducer", "RemoteServer", "Rooms", "TrackRecording", "TwirpError", "embed", "ingest", "record",
           "settings"]
