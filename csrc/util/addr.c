/* addr.c - conversions between sfu_addr_t (the API's address) and sockaddr. */
#include <netinet/in.h>
#include <sys/socket.h>
#include "util/sfu_common.h"
#include "util/addr.h"

void sfu_addr_to_sa(const sfu_addr_t *a, struct sockaddr_storage *ss, socklen_t *len)
{
    memset(ss, 0, sizeof(*ss));
    if (a->family == AF_INET6) {
        struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)ss;
        s6->sin6_family = AF_INET6;
        s6->sin6_port = htons(a->port);
        s6->sin6_scope_id = a->scope_id;
        memcpy(&s6->sin6_addr, a->ip, 16);
        *len = sizeof(*s6);
    } else {
        struct sockaddr_in *s4 = (struct sockaddr_in *)ss;
        s4->sin_family = AF_INET;
        s4->sin_port = htons(a->port);
        memcpy(&s4->sin_addr, a->ip, 4);
        *len = sizeof(*s4);
    }
}

void sfu_sa_to_addr(const struct sockaddr_storage *ss, sfu_addr_t *a)
{
    memset(a, 0, sizeof(*a));
    if (ss->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)ss;
        a->family = AF_INET6;
        a->port = ntohs(s6->sin6_port);
        a->scope_id = s6->sin6_scope_id;
        memcpy(a->ip, &s6->sin6_addr, 16);
    } else {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)ss;
        a->family = AF_INET;
        a->port = ntohs(s4->sin_port);
        memcpy(a->ip, &s4->sin_addr, 4);
    }
}

int sfu_addr_eq(const sfu_addr_t *a, const sfu_addr_t *b)
{
    if (a->family != b->family || a->port != b->port)
        return 0;
    return memcmp(a->ip, b->ip, a->family == AF_INET6 ? 16 : 4) == 0;
}
