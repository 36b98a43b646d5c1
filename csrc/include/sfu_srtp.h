/*
 * sfu_srtp.h - SRTP through the pylibsrtp wheel's libsrtp (OpenSSL build).
 * Python creates the srtp_t sessions with the wheel's own cffi binding and
 * hands the function pointers over once per extension module and process
 * (sfu/srtp.py bind()).  See sfu_types.h for the rules of this header.
 */
#ifndef SFU_SRTP_H
#define SFU_SRTP_H

#include "sfu_types.h"

int sfu_srtp_bind(uintptr_t protect, uintptr_t unprotect,
                  uintptr_t protect_rtcp, uintptr_t unprotect_rtcp);
int sfu_srtp_bound(void);
/* in place; *len is updated; buf must have SFU_SRTP_TRAILER_MAX spare bytes
 * after *len for protect.  Return libsrtp's srtp_err_status_t (0 = ok). */
int sfu_srtp_protect(void *session, uint8_t *buf, int *len);
int sfu_srtp_unprotect(void *session, uint8_t *buf, int *len);
int sfu_srtp_protect_rtcp(void *session, uint8_t *buf, int *len);
int sfu_srtp_unprotect_rtcp(void *session, uint8_t *buf, int *len);

#endif
