"""What the server tells clients about itself (JoinResponse / ReconnectResponse `server_info`,
the agent worker's RegisterWorkerResponse).

Clients gate features on `ServerInfo.version` as a LiveKit server version: livekit-client
refuses RPC below 1.8.0 and publishes VP9/AV1 as rid simulcast (SimulcastCodec.videoLayerMode)
only above 1.13.6.  So `version` is the LiveKit server release whose feature level this server
implements for those gates, not this package's version, which goes in `debug_info`.
"""

from __future__ import annotations

from livekit.protocol import models

from .. import __version__

# RPC (DataPacket rpc_request/rpc_ack/rpc_response forwarded to destination_identities) is there;
# the rid-simulcast layer mode for SVC codecs (> 1.13.6) is not
LIVEKIT_FEATURE_LEVEL = "1.8.0"
PROTOCOL_VERSION = 16           # the signal protocol spoken (livekit-protocol's ProtocolVersion)
AGENT_PROTOCOL_VERSION = 1


def server_info(node_id: str, region: str = "") -> models.ServerInfo:
    return models.ServerInfo(edition=models.ServerInfo.Standard, version=LIVEKIT_FEATURE_LEVEL,
                             protocol=PROTOCOL_VERSION, region=region, node_id=node_id,
                             debug_info=f"sfu {__version__}", agent_protocol=AGENT_PROTOCOL_VERSION)
