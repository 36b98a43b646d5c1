/* ptr_array.h - small growable arrays of pointers (a transport's producers,
 * a producer's consumers ...): append, and remove keeping the order. */
#ifndef SFU_PTR_ARRAY_H
#define SFU_PTR_ARRAY_H
#include <stdint.h>

/* SFU_OK or SFU_ENOMEM */
int sfu_ptr_push(void ***arr, uint32_t *n, uint32_t *cap, void *p);
/* removes the first occurrence of p (if any) */
void sfu_ptr_remove(void **arr, uint32_t *n, void *p);

#define PUSH(arr, n, cap, p) sfu_ptr_push((void ***)&(arr), &(n), &(cap), (p))
#define REMOVE(arr, n, p) sfu_ptr_remove((void **)(arr), &(n), (p))
#endif
