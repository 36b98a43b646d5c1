/* addr.h - sfu_addr_t <-> struct sockaddr (internal, not seen by cffi). */
#ifndef SFU_ADDR_H
#define SFU_ADDR_H
#include <sys/socket.h>
#include "sfu_types.h"

void sfu_addr_to_sa(const sfu_addr_t *a, struct sockaddr_storage *ss, socklen_t *len);
void sfu_sa_to_addr(const struct sockaddr_storage *ss, sfu_addr_t *a);
int sfu_addr_eq(const sfu_addr_t *a, const sfu_addr_t *b);
#endif
