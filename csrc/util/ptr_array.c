/* ptr_array.c - see ptr_array.h. */
#include <stdlib.h>
#include "util/sfu_common.h"
#include "util/ptr_array.h"

int sfu_ptr_push(void ***arr, uint32_t *n, uint32_t *cap, void *p)
{
    if (*n == *cap) {
        uint32_t c = *cap ? *cap * 2 : 4;
        void **a = realloc(*arr, c * sizeof(void *));
        if (!a)
            return SFU_ENOMEM;
        *arr = a;
        *cap = c;
    }
    (*arr)[(*n)++] = p;
    return SFU_OK;
}

void sfu_ptr_remove(void **arr, uint32_t *n, void *p)
{
    for (uint32_t i = 0; i < *n; i++)
        if (arr[i] == p) {
            memmove(&arr[i], &arr[i + 1], (*n - i - 1) * sizeof(void *));
            (*n)--;
            return;
        }
}
