/* srtp.c - libsrtp calls through the pylibsrtp wheel's function pointers.
 *
 * The wheel bundles libsrtp 2.7 statically linked with OpenSSL 3.5 (AES-NI,
 * AES-GCM).  Python (sfu/srtp.py) creates each srtp_t session with the
 * wheel's own cffi binding, so struct layouts always match the library;
 * C only needs the four per-packet entry points. */
#include "util/sfu_common.h"
#include "sfu_srtp.h"

typedef int (*srtp_fn)(void *ctx, void *buf, int *len);

static srtp_fn fn_protect, fn_unprotect, fn_protect_rtcp, fn_unprotect_rtcp;

int sfu_srtp_bind(uintptr_t protect, uintptr_t unprotect,
                  uintptr_t protect_rtcp, uintptr_t unprotect_rtcp)
{
    if (!protect || !unprotect || !protect_rtcp || !unprotect_rtcp)
        return SFU_EINVAL;
    fn_protect = (srtp_fn)protect;
    fn_unprotect = (srtp_fn)unprotect;
    fn_protect_rtcp = (srtp_fn)protect_rtcp;
    fn_unprotect_rtcp = (srtp_fn)unprotect_rtcp;
    return SFU_OK;
}

int sfu_srtp_bound(void) { return fn_protect != NULL; }

/* srtp_err_status_fail (1) when nothing is bound or no session */
int sfu_srtp_protect(void *s, uint8_t *buf, int *len)
{
    return (fn_protect && s) ? fn_protect(s, buf, len) : 1;
}
int sfu_srtp_unprotect(void *s, uint8_t *buf, int *len)
{
    return (fn_unprotect && s) ? fn_unprotect(s, buf, len) : 1;
}
int sfu_srtp_protect_rtcp(void *s, uint8_t *buf, int *len)
{
    return (fn_protect_rtcp && s) ? fn_protect_rtcp(s, buf, len) : 1;
}
int sfu_srtp_unprotect_rtcp(void *s, uint8_t *buf, int *len)
{
    return (fn_unprotect_rtcp && s) ? fn_unprotect_rtcp(s, buf, len) : 1;
}
