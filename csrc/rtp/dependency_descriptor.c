/* dependency_descriptor.c - the dependency descriptor RTP header extension
 * (AV1 RTP spec, appendix A): the mandatory fields and, from the template
 * dependency structure, each template's spatial and temporal id.  Nothing
 * past template_layers() is read: layer selection needs no more. */
#include "util/sfu_common.h"
#include "sfu_packet.h"

typedef struct {
    const uint8_t *b;
    size_t n_bits;
    size_t pos;
} bits_t;

/* the next `count` (<= 16) bits, most significant first; -1 past the end */
static int32_t bits_read(bits_t *r, unsigned count)
{
    if (r->pos + count > r->n_bits)
        return -1;
    int32_t v = 0;
    for (unsigned i = 0; i < count; i++, r->pos++)
        v = (v << 1) | ((r->b[r->pos >> 3] >> (7 - (r->pos & 7))) & 1);
    return v;
}

/* template_dependency_structure() up to template_layers() (A.8.2, A.8.3) */
static int read_structure(bits_t *r, sfu_dd_structure_t *st)
{
    int32_t offset = bits_read(r, 6), dt_minus_one = bits_read(r, 5);
    if (offset < 0 || dt_minus_one < 0)
        return SFU_DD_SHORT;
    int spatial = 0, temporal = 0;
    unsigned count = 0;
    int32_t next;
    do {
        if (count == SFU_DD_MAX_TEMPLATES)
            return SFU_DD_BAD_STRUCTURE;
        st->spatial[count] = (int8_t)spatial;
        st->temporal[count] = (int8_t)temporal;
        count++;
        next = bits_read(r, 2);
        if (next < 0)
            return SFU_DD_SHORT;
        if (next == 1) {
            temporal++;
        } else if (next == 2) {
            temporal = 0;
            spatial++;
        }
        if (temporal > 7 || spatial > 7)
            return SFU_DD_BAD_STRUCTURE;
    } while (next != 3);
    st->n_templates = (uint8_t)count;
    st->id_offset = (uint8_t)offset;
    st->n_decode_targets = (uint8_t)(dt_minus_one + 1);
    return SFU_DD_OK;
}

int sfu_dd_parse(const uint8_t *b, size_t n, sfu_dd_structure_t *st, sfu_dd_t *out)
{
    if (n < 3)
        return SFU_DD_SHORT;
    out->start = b[0] >> 7;
    out->end = (b[0] >> 6) & 1;
    out->template_id = b[0] & 0x3f;
    out->frame_number = sfu_rd16(b + 1);
    out->has_structure = 0;
    out->spatial = out->temporal = -1;
    if (n > 3 && (b[3] & 0x80)) {        /* template_dependency_structure_present_flag */
        bits_t r = { b, n * 8, 3 * 8 + 5 };
        sfu_dd_structure_t fresh;
        int rc = read_structure(&r, &fresh);
        if (rc != SFU_DD_OK)
            return rc;
        *st = fresh;
        out->has_structure = 1;
    }
    if (st->n_templates) {
        unsigned index = (unsigned)(out->template_id + SFU_DD_MAX_TEMPLATES - st->id_offset) % SFU_DD_MAX_TEMPLATES;
        if (index < st->n_templates) {
            out->spatial = st->spatial[index];
            out->temporal = st->temporal[index];
        }
    }
    return SFU_DD_OK;
}
