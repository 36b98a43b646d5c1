/*
 * sfu_packet.h - the packet layer: bounds-checked parsers (csrc/rtp/) and
 * the RTCP builders.  Pure functions over caller buffers: no state, no
 * clock, no I/O.  Seen by every cffi module (see sfu_types.h for the rules).
 */
#ifndef SFU_PACKET_H
#define SFU_PACKET_H

#include "sfu_types.h"

/* first-byte classification: SFU_PKT_* */
int sfu_demux(const uint8_t *buf, size_t len);

/* ------------------------------------------------------------------ */
/* RTP header parse.  All offsets are from the start of the packet.     */
/* where a packet of a scalable video stream sits (SVC, RFC 9628 / the AV1 RTP spec's dependency
 * descriptor): read by the producer (sfu_vp9_layers, sfu_dd_parse), used by each consumer's
 * layer selector.  spatial/temporal -1: not known (not scalable, or no descriptor) */
typedef struct {
    int8_t   spatial;
    int8_t   temporal;
    uint8_t  start;            /* the first packet of its layer frame */
    uint8_t  end;              /* the last packet of its layer frame */
    uint8_t  sync;             /* a temporal switching-up point (VP9 U bit; temporal 0 always is one) */
} sfu_video_layers_t;
#define SFU_SVC_ALL 127            /* a layer selection (target or current) meaning every layer */

typedef struct {
    uint8_t  marker;
    uint8_t  payload_type;
    uint16_t seq;
    uint32_t ts;
    uint32_t ssrc;
    uint8_t  csrc_count;
    uint8_t  has_extension;
    uint16_t ext_profile;      /* 0xBEDE one-byte, 0x100x two-byte */
    uint16_t ext_offset;       /* offset of the extension body (after the 4-byte ext header) */
    uint16_t ext_len;          /* body length in bytes */
    uint16_t header_len;       /* offset of the payload */
    uint16_t payload_len;      /* excludes padding */
    uint8_t  pad_len;
    sfu_video_layers_t layers; /* sfu_rtp_parse: unknown (-1); the producer fills it in */
} sfu_rtp_t;

/* returns SFU_DROP_NONE (0) or the drop reason */
int sfu_rtp_parse(const uint8_t *buf, size_t len, sfu_rtp_t *out);
/* 1 when the packet starts a key frame of `codec` (SFU_CODEC_*), 0 when not,
 * -1 when the codec is not understood (csrc/rtp/codecs/) */
int sfu_rtp_is_keyframe(const uint8_t *buf, const sfu_rtp_t *rtp, int codec);
/* find header extension `id` (one-byte or two-byte form); returns value
 * length (>= 0) and sets *val_off, or -1 when absent/malformed */
int sfu_rtp_find_ext(const uint8_t *buf, const sfu_rtp_t *rtp, int id, uint16_t *val_off);
/* the RFC 6464 audio level byte of extension `id` (voice flag << 7 | -dBov),
 * or -1 when absent or malformed (csrc/rtp/audio_level.c) */
int sfu_rtp_audio_level(const uint8_t *buf, const sfu_rtp_t *rtp, int id);

/* ------------------------------------------------------------------ */
/* RTCP compound walker.                                                */
typedef struct {
    uint8_t  count;            /* RC / FMT field */
    uint8_t  pt;
    uint16_t len;              /* length of this packet in bytes, header included */
    uint32_t sender_ssrc;
    uint32_t media_ssrc;       /* feedback packets: media source; SR/RR: 0 */
    uint16_t offset;           /* offset of this packet in the compound */
} sfu_rtcp_t;

/* walk: *off starts at 0; returns 1 and fills *out for each packet, 0 at
 * the clean end, or -SFU_DROP_BAD_RTCP on malformed input */
int sfu_rtcp_next(const uint8_t *buf, size_t len, size_t *off, sfu_rtcp_t *out);
/* checks a whole compound packet; SFU_DROP_NONE or SFU_DROP_BAD_RTCP */
int sfu_rtcp_validate(const uint8_t *buf, size_t len);
/* Generic NACK (RTPFB fmt 1): expand the FCI pairs into lost sequence
 * numbers; returns how many were written (<= cap) or -SFU_DROP_BAD_RTCP */
int sfu_rtcp_nack_seqs(const uint8_t *buf, const sfu_rtcp_t *pkt, uint16_t *seqs, int cap);
/* the source SSRCs of an SR's or RR's report blocks (at most cap): how
 * many were written, 0 for other packets, -SFU_DROP_BAD_RTCP when the
 * blocks run past the packet (its padding excluded) */
int sfu_rtcp_report_ssrcs(const uint8_t *buf, const sfu_rtcp_t *pkt, uint32_t *ssrcs, int cap);
/* REMB (PSFB FMT 15, "REMB"): 1 and *bps set, 0 when pkt is not a REMB, or
 * -SFU_DROP_BAD_RTCP when its SSRC list runs past the packet */
int sfu_rtcp_remb_bps(const uint8_t *buf, const sfu_rtcp_t *pkt, uint64_t *bps);

/* ------------------------------------------------------------------ */
/* Transport-cc feedback parser (csrc/rtp/tcc_feedback.c;
 * draft-holmer-rmcat-transport-wide-cc-extensions-01 3.1): one RTPFB
 * FMT=15 packet (buf/len: that packet, e.g. at sfu_rtcp_t.offset) into its
 * header and one entry per reported sequence number.  Returns SFU_TCC_FB_OK
 * or the reason it was rejected (sfu_tcc_feedback_reject_name); on a
 * rejection nothing in pkts may be used.                                */
typedef enum {
    SFU_TCC_FB_OK = 0,
    SFU_TCC_FB_TOO_SHORT = 1,        /* shorter than its header, one chunk, or its length field */
    SFU_TCC_FB_NOT_TCC = 2,          /* not V=2, PT=205, FMT=15 */
    SFU_TCC_FB_BAD_PADDING = 3,      /* padding count 0 or past the header */
    SFU_TCC_FB_NO_PACKETS = 4,       /* packet status count 0 */
    SFU_TCC_FB_TOO_MANY = 5,         /* status count larger than the caller's cap */
    SFU_TCC_FB_CHUNKS_TRUNCATED = 6, /* the chunks end before status count symbols */
    SFU_TCC_FB_BAD_SYMBOL = 7,       /* the reserved symbol 3 for a reported packet */
    SFU_TCC_FB_DELTAS_TRUNCATED = 8, /* fewer receive delta bytes than the symbols say */
    SFU_TCC_FB__COUNT = 9
} sfu_tcc_feedback_reject_t;

#define SFU_TCC_DELTA_UNIT_US 250
#define SFU_TCC_REFERENCE_UNIT_US 64000

typedef struct {
    uint32_t sender_ssrc;
    uint32_t media_ssrc;
    uint16_t base_seq;         /* transport-wide sequence number of pkts[0] */
    uint16_t status_count;     /* entries in pkts */
    uint32_t reference_time;   /* 24 bits, SFU_TCC_REFERENCE_UNIT_US units, receiver's clock */
    uint32_t received;         /* entries with status != 0 */
    uint8_t  fb_count;         /* feedback packet count (8 bits) */
    uint8_t  _pad[3];
} sfu_tcc_feedback_t;

typedef struct {
    uint16_t seq;
    uint8_t  status;           /* 0 not received, 1 small delta, 2 large delta */
    uint8_t  _pad[5];
    int64_t  arrival_offset_us;/* received: arrival - reference time (sum of the deltas); else 0 */
} sfu_tcc_feedback_packet_t;

int sfu_tcc_feedback_parse(const uint8_t *buf, size_t len, sfu_tcc_feedback_t *fb,
                           sfu_tcc_feedback_packet_t *pkts, uint32_t cap);
const char *sfu_tcc_feedback_reject_name(int reason);

/* ------------------------------------------------------------------ */
/* Transport-wide sequence number stamp (csrc/rtp/tcc_seq_stamp.c): write
 * `seq` as header extension `id` (1..14) of the packet pkt[0..len) whose
 * sfu_rtp_parse() result is `rtp`: over the element with that id, else in
 * padding inside the block, else growing the block by 4 bytes or adding
 * one of 8, never past `cap`.  Returns the new length (len when the size
 * did not change), or 0 when it could not be written (no room, an
 * extension profile other than RFC 8285's, an unreadable block); `rtp` is
 * stale once the length changed.                                         */
uint32_t sfu_tcc_seq_stamp(uint8_t *pkt, uint32_t len, uint32_t cap, const sfu_rtp_t *rtp, uint8_t id,
                           uint16_t seq);

/* ------------------------------------------------------------------ */
/* Padding-only RTP packet (csrc/rtp/rtp_padding.c): P bit set, marker
 * clear, pad_len (1..SFU_RTP_PADDING_MAX) bytes of payload that are all
 * padding.  Returns the length (12 + pad_len), or 0 when pad_len is out
 * of range or cap too small.                                            */
#define SFU_RTP_PADDING_MAX 255

uint32_t sfu_rtp_build_padding(uint8_t *b, size_t cap, uint8_t payload_type, uint16_t seq, uint32_t ts,
                               uint32_t ssrc, uint32_t pad_len);

/* ------------------------------------------------------------------ */
/* RTCP builders (csrc/rtp/rtcp_build.c): write one packet at b (which
 * has room for it) and return its length in bytes.                     */
#define SFU_RTCP_SR_LEN 28
#define SFU_RTCP_RR_LEN 32
#define SFU_RTCP_PLI_LEN 12
#define SFU_REPORT_BLOCK_LEN 24

/* sender report without report blocks (RFC 3550 6.4.1); ntp is 32.32 fixed point */
uint32_t sfu_rtcp_build_sr(uint8_t *b, uint32_t ssrc, uint64_t ntp, uint32_t rtp_ts, uint32_t packets,
                           uint32_t octets);
/* receiver report with one 24-byte report block (RFC 3550 6.4.2) */
uint32_t sfu_rtcp_build_rr(uint8_t *b, uint32_t sender_ssrc, const uint8_t *block);
/* picture loss indication (RFC 4585 6.3.1) */
uint32_t sfu_rtcp_build_pli(uint8_t *b, uint32_t sender_ssrc, uint32_t media_ssrc);
/* generic NACK (RFC 4585 6.2.1) asking for seqs[0..n) in their order: a
 * sequence number joins the current PID/BLP pair when it is 1..16 after
 * the PID and after the one before it, else it starts a new pair.  Writes
 * as many pairs as fit in cap bytes, sets *used to the sequence numbers
 * they cover and returns the length; 0 when n is 0 or cap < 16.         */
uint32_t sfu_rtcp_build_nack(uint8_t *b, uint32_t cap, uint32_t sender_ssrc, uint32_t media_ssrc,
                             const uint16_t *seqs, uint32_t n, uint32_t *used);
/* NTP timestamp (RFC 5905, 32.32) of a CLOCK_REALTIME time in ns */
uint64_t sfu_ntp_from_unix_ns(uint64_t unix_ns);

/* ------------------------------------------------------------------ */
/* RTX (RFC 4588, csrc/rtp/rtx.c): a retransmission on its own SSRC and
 * payload type whose payload starts with the original sequence number
 * (OSN).                                                                */

/* restore the original packet in place: pkt[0..*len) with sfu_rtp_parse()
 * result `rtx` becomes the packet of media_ssrc / media_pt with sequence
 * number OSN (marker, timestamp, extensions and padding kept), 2 bytes
 * shorter; *out is its parse.  Returns SFU_DROP_NONE, SFU_DROP_RTX_PADDING
 * (no media: the sender's padding or probe) or SFU_DROP_BAD_RTX (a payload
 * too short to hold the OSN); the packet is unchanged on a drop.        */
int sfu_rtx_unwrap(uint8_t *pkt, uint32_t *len, const sfu_rtp_t *rtx, uint32_t media_ssrc, uint8_t media_pt,
                   sfu_rtp_t *out);
/* the RTX packet of src (parsed as `rtp`) into dst: src's header with
 * ssrc, pt and seq replaced and no padding, then `osn`, then src's
 * payload.  Returns its length, or 0 when it does not fit in cap.       */
uint32_t sfu_rtx_wrap(uint8_t *dst, uint32_t cap, const uint8_t *src, const sfu_rtp_t *rtp, uint16_t osn,
                      uint32_t ssrc, uint8_t pt, uint16_t seq);

/* ------------------------------------------------------------------ */
/* Audio redundancy (RFC 2198 RED, as WebRTC uses it for Opus): a RED
 * payload is a 4-byte header per earlier block (F=1, its payload type, its
 * timestamp offset from the primary in 14 bits, its length in 10 bits),
 * a 1-byte header for the primary (F=0, its payload type), then the
 * blocks' data, the earlier ones first, the primary last.               */
#define SFU_RED_MAX_BLOCKS 2        /* earlier blocks a RED payload we build carries (LiveKit's too) */
#define SFU_RED_MAX_BLOCK_LEN 1023  /* a block's length has 10 bits */
#define SFU_RED_MAX_TS_OFFSET 16383 /* a block's timestamp offset has 14 bits */
#define SFU_RED_PARSE_MAX 16        /* blocks sfu_red_parse reports at most */

typedef struct {
    const uint8_t *data;
    uint16_t len;
    uint16_t ts_offset;        /* the primary's timestamp minus this block's */
    uint8_t  payload_type;
} sfu_red_block_t;

/* the RED payload of `primary` (payload type pt) with the n earlier blocks
 * (oldest first; each with pt too) into out: returns its length, or 0 when
 * a block is too long or too old for its header fields, n is more than
 * SFU_RED_MAX_BLOCKS, or the whole does not fit in cap.                 */
uint32_t sfu_red_build(uint8_t *out, uint32_t cap, uint8_t pt, const sfu_red_block_t *blocks, uint32_t n,
                       const uint8_t *primary, uint32_t primary_len);
/* a publisher's RED packet pkt[0..*len) (parsed as `red`) becomes, in place,
 * the plain packet of its primary block on payload type `pt` (header and
 * extensions kept, no padding); *out is its parse.  The earlier blocks are
 * copied to blocks[] (at most cap, oldest first) with the sequence numbers
 * they had (the packets just before, as libwebrtc sends them) in seqs[],
 * *n_blocks their number.  A padding-only packet (libwebrtc probes on its
 * audio SSRC so) only gets `pt`.  Returns SFU_DROP_NONE or
 * SFU_DROP_BAD_RED (the packet unchanged).                              */
int sfu_red_unwrap(uint8_t *pkt, uint32_t *len, const sfu_rtp_t *red, uint8_t pt, sfu_rtp_t *out,
                   uint8_t (*blocks)[SFU_RED_MAX_BLOCK_LEN], uint16_t *block_lens, uint16_t *seqs,
                   uint32_t *ts, uint32_t cap, uint32_t *n_blocks);
/* the blocks of a RED payload, in order, the primary last (ts_offset 0):
 * returns their number (the first `cap` are written to blocks), or -1
 * when the headers or lengths run past the payload or there are more than
 * SFU_RED_PARSE_MAX blocks.                                             */
int sfu_red_parse(const uint8_t *payload, uint32_t len, sfu_red_block_t *blocks, uint32_t cap);

/* ------------------------------------------------------------------ */
/* Scalable video: where a packet sits (spatial and temporal layer).
 *
 * VP9 payload descriptor (RFC 9628 4.2): layer indices (L) give TID, U and
 * SID; B and E mark the layer frame's first and last packet.  Returns 1 and
 * fills *out, 0 when the descriptor has no layer indices (not scalable), -1
 * when it runs past the payload.                                          */
int sfu_vp9_layers(const uint8_t *payload, size_t n, sfu_video_layers_t *out);

/* Dependency descriptor (AV1 RTP spec, appendix A; libwebrtc sends it for
 * AV1 and VP9 where it was negotiated).  Only what layer selection needs is
 * kept: each frame names a template, and the template structure (sent with
 * key frames) gives each template its spatial and temporal id.             */
#define SFU_DD_MAX_TEMPLATES 64
typedef struct {
    uint8_t  n_templates;      /* 0 = no structure seen yet */
    uint8_t  id_offset;        /* template_id_offset */
    uint8_t  n_decode_targets;
    uint8_t  _pad;
    int8_t   spatial[SFU_DD_MAX_TEMPLATES];
    int8_t   temporal[SFU_DD_MAX_TEMPLATES];
} sfu_dd_structure_t;

typedef struct {
    uint8_t  start;            /* start_of_frame */
    uint8_t  end;              /* end_of_frame */
    uint8_t  template_id;
    uint8_t  has_structure;    /* this one carried a template dependency structure */
    uint16_t frame_number;
    int8_t   spatial;          /* from its template; -1 when no structure knows it */
    int8_t   temporal;
} sfu_dd_t;

/* parse the extension's value b[0..n): SFU_DD_OK and *out, the structure in
 * *st replaced when the descriptor carries one; SFU_DD_SHORT (fewer than 3
 * bytes or a structure running past the end) or SFU_DD_BAD_STRUCTURE (more
 * than SFU_DD_MAX_TEMPLATES templates), *st unchanged then.  A template id
 * the structure does not name leaves out->spatial/temporal at -1.          */
#define SFU_DD_OK 0
#define SFU_DD_SHORT 1
#define SFU_DD_BAD_STRUCTURE 2
int sfu_dd_parse(const uint8_t *b, size_t n, sfu_dd_structure_t *st, sfu_dd_t *out);

/* ------------------------------------------------------------------ */
/* STUN header check (RFC 5389): magic cookie, length, attribute TLVs.  */
/* returns SFU_DROP_NONE or SFU_DROP_BAD_STUN; on success sets *username
 * offset/len (len 0 when absent) */
int sfu_stun_check(const uint8_t *buf, size_t len, uint16_t *username_off, uint16_t *username_len);
/* the recipient's part of a STUN USERNAME "<recipient ufrag>:<sender ufrag>" (RFC 8445 7.2.2):
 * its length, or -1 when there is no colon or either part is empty */
int sfu_stun_local_ufrag_len(const uint8_t *username, size_t len);

#endif
