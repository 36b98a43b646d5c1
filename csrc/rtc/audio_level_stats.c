/* audio_level_stats.c - counting the RFC 6464 levels of a local audio
 * producer's packets (sfu_api.h sfu_audio_level_stats_t). */
#include "util/sfu_common.h"
#include "rtc/rtc.h"

void producer_observe_audio_level(struct producer *p, const uint8_t *buf, const sfu_rtp_t *rtp, int id)
{
    int v = sfu_rtp_audio_level(buf, rtp, id);
    if (v < 0)
        return;
    int dbov = v & 0x7f;
    p->audio_level.packets++;
    if (dbov <= SFU_AUDIO_LOUD_DBOV) {
        p->audio_level.loud++;
        p->audio_level.loud_dbov_sum += (uint64_t)dbov;
    }
}
