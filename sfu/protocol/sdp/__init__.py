"""SDP: parse and serialise descriptions, and the SFU's answers and offers.

  grammar     lines, attributes, the m= line
  media       media sections and what they describe: codecs, extmaps, SSRCs, RIDs, simulcast
  session     SessionDescription: parse and serialize a whole description
  extensions  every RTP header-extension URI the SFU knows; what it accepts and offers
  local       the SFU's own side: its transport, the tracks it sends, the lines for them
  answer      build_answer: the answer to a publisher offer (its policy is documented there)
  offer       build_subscriber_offer: the offer to a subscriber PeerConnection

The names callers use are re-exported here (``from sfu.protocol import sdp; sdp.build_answer``).
"""

from .answer import (DEFAULT_RIDS, DEFAULT_VIDEO_CODECS, RTP_PROTOS, Answer, MediaInfo, build_answer,
                     select_audio_codecs, select_video_codecs)
from .extensions import (ACCEPTED_EXTENSIONS, EXT_ABS_SEND_TIME, EXT_AUDIO_LEVEL, EXT_DEPENDENCY_DESCRIPTOR, EXT_MID,
                         EXT_REPAIRED_RID, EXT_RID, EXT_TWCC, SUBSCRIBER_EXTMAPS)
from .grammar import CRLF, Line, SdpError
from .local import (ACCEPTED_FEEDBACK, DEFAULT_MAX_MESSAGE_SIZE, DEFAULT_SCTP_PORT, SCTP_PROTO, SendTrack,
                    TransportParams)
from .media import (DIRECTIONS, Codec, Extmap, MediaSection, Rid, Simulcast, SsrcInfo, fmtp_params, parse_codecs,
                    parse_extmaps, parse_rids, parse_simulcast, parse_ssrcs)
from .offer import (AV1, DEFAULT_AUDIO_SEND_CODECS, DEFAULT_VIDEO_SEND_CODECS, H264, OPUS, RED_AUDIO, VP8, VP9,
                    build_subscriber_offer, rtx_for)
from .session import SessionDescription

__all__ = [
    "ACCEPTED_EXTENSIONS", "ACCEPTED_FEEDBACK", "AV1", "Answer", "CRLF", "Codec", "DEFAULT_AUDIO_SEND_CODECS",
    "DEFAULT_MAX_MESSAGE_SIZE", "DEFAULT_RIDS", "DEFAULT_SCTP_PORT", "DEFAULT_VIDEO_CODECS",
    "DEFAULT_VIDEO_SEND_CODECS", "DIRECTIONS", "EXT_ABS_SEND_TIME", "EXT_AUDIO_LEVEL", "EXT_DEPENDENCY_DESCRIPTOR",
    "EXT_MID", "EXT_REPAIRED_RID", "EXT_RID", "EXT_TWCC", "Extmap", "H264", "Line", "MediaInfo", "MediaSection",
    "OPUS", "RED_AUDIO", "RTP_PROTOS", "Rid", "SCTP_PROTO", "SUBSCRIBER_EXTMAPS", "SdpError", "SendTrack",
    "SessionDescription", "Simulcast", "SsrcInfo", "TransportParams", "VP8", "VP9", "build_answer",
    "build_subscriber_offer", "fmtp_params", "parse_codecs", "parse_extmaps", "parse_rids", "parse_simulcast",
    "parse_ssrcs", "rtx_for", "select_audio_codecs", "select_video_codecs",
]
