/* image_buf: read-only-able mappings for the image tests. */
#include "image_buf.h"

#include <criterion/criterion.h>
#include <sys/mman.h>
#include <unistd.h>

void image_buf_init(image_buf_t *b, size_t size)
{
    size_t page = (size_t)sysconf(_SC_PAGESIZE);

    b->size = size;
    b->map = size == 0 ? page : (size + page - 1) / page * page;
    b->data = mmap(NULL, b->map, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    cr_assert_neq(b->data, MAP_FAILED, "mmap %zu bytes", b->map);
}

void image_buf_seal(image_buf_t *b)
{
    cr_assert_eq(mprotect(b->data, b->map, PROT_READ), 0);
}

void image_buf_unseal(image_buf_t *b)
{
    cr_assert_eq(mprotect(b->data, b->map, PROT_READ | PROT_WRITE), 0);
}

void image_buf_free(image_buf_t *b)
{
    munmap(b->data, b->map);
    b->data = NULL;
}
