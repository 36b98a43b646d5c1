"""Webhooks as LiveKit sends them: room, participant and track events POSTed as protobuf-JSON
WebhookEvent to every `webhook.urls` entry, signed with `webhook.api_key`'s secret.

`events` builds the events (pure), `delivery_queue` decides per room what to send next, when
to retry and what to drop (pure, takes `now`), `notifier` is the HTTP driver and
`room_hooks` turns room events into webhook events (and gives them to the Python API).
"""

from .notifier import WebhookNotifier
from .room_hooks import RoomEvents, RoomWebhooks

__all__ = ["RoomEvents", "RoomWebhooks", "WebhookNotifier"]
