/*
 * Bounded byte buffer. All length arithmetic on wire data happens here.
 */
#include <stdlib.h>
#include <string.h>

#include "custodian/error.h"
#include "buf.h"

void
buf_init(struct buf *b, size_t limit)
{
    memset(b, 0, sizeof(*b));
    b->limit = limit;
}

void
buf_init_secret(struct buf *b, size_t limit)
{
    buf_init(b, limit);
    b->wipe = 1;
}

void
buf_view(struct buf *b, const void *data, size_t len)
{
    buf_init(b, len);
    /* Readers never write through data; the cast only fits the struct. */
    b->data = (uint8_t *)(uintptr_t)data;
    b->len = len;
    b->cap = 0; /* cap 0 with data set marks a view: never freed */
}

void
buf_free(struct buf *b)
{
    if (b->cap > 0) {
        if (b->wipe)
            explicit_bzero(b->data, b->cap);
        free(b->data);
    }
    memset(b, 0, sizeof(*b));
}

int
buf_status(const struct buf *b)
{
    return b->bad;
}

size_t
buf_remaining(const struct buf *b)
{
    return b->len - b->off;
}

const uint8_t *
buf_ptr(const struct buf *b)
{
    return b->data + b->off;
}

/*
 * The first failure sticks: a parser can run a sequence of reads and
 * check once at the end, and no read after a failure can return data
 * from the wrong offset.
 */
static int
buf_fail(struct buf *b, int code)
{
    if (b->bad == 0)
        b->bad = code;
    return b->bad;
}

/* Makes room for NEED more bytes, moving (and wiping) if it must grow. */
static int
buf_reserve(struct buf *b, size_t need)
{
    size_t want;
    uint8_t *p;

    if (b->bad)
        return b->bad;
    if (b->data != NULL && b->cap == 0)
        return buf_fail(b, CUST_ERR_ARG); /* a view is read-only */
    if (need > b->limit - b->len)
        return buf_fail(b, CUST_ERR_TOO_BIG);
    if (b->cap - b->len >= need)
        return 0;

    /* Doubling keeps appends amortized O(1); the limit caps the last step
     * so a buffer never holds more than it may. */
    want = b->cap < 64 ? 64 : b->cap;
    while (want - b->len < need)
        want = want > b->limit / 2 ? b->limit : want * 2;
    p = malloc(want);
    if (p == NULL)
        return buf_fail(b, CUST_ERR_NOMEM);
    if (b->len > 0)
        memcpy(p, b->data, b->len);
    if (b->cap > 0 && b->wipe)
        explicit_bzero(b->data, b->cap);
    free(b->data);
    b->data = p;
    b->cap = want;
    return 0;
}

int
buf_put(struct buf *b, const void *data, size_t len)
{
    int rc = buf_reserve(b, len);

    if (rc != 0)
        return rc;
    if (len > 0)
        memcpy(b->data + b->len, data, len);
    b->len += len;
    return 0;
}

int
buf_put_u8(struct buf *b, uint8_t v)
{
    return buf_put(b, &v, 1);
}

int
buf_put_u32(struct buf *b, uint32_t v)
{
    uint8_t be[4] = {(uint8_t)(v >> 24), (uint8_t)(v >> 16), (uint8_t)(v >> 8),
                     (uint8_t)v};

    return buf_put(b, be, sizeof(be));
}

int
buf_put_string(struct buf *b, const void *data, size_t len)
{
    if (len > UINT32_MAX)
        return buf_fail(b, CUST_ERR_TOO_BIG);
    if (buf_put_u32(b, (uint32_t)len) != 0)
        return b->bad;
    return buf_put(b, data, len);
}

int
buf_put_cstring(struct buf *b, const char *s)
{
    return buf_put_string(b, s, strlen(s));
}

int
buf_patch_u32(struct buf *b, size_t off, uint32_t v)
{
    if (b->bad)
        return b->bad;
    if (b->cap == 0 || off > b->len || b->len - off < 4)
        return buf_fail(b, CUST_ERR_ARG);
    b->data[off] = (uint8_t)(v >> 24);
    b->data[off + 1] = (uint8_t)(v >> 16);
    b->data[off + 2] = (uint8_t)(v >> 8);
    b->data[off + 3] = (uint8_t)v;
    return 0;
}

int
buf_put_mpint(struct buf *b, const uint8_t *mag, size_t len)
{
    uint8_t zero = 0;

    while (len > 0 && mag[0] == 0) {
        mag++;
        len--;
    }
    if (len == 0)
        return buf_put_u32(b, 0);
    if (mag[0] & 0x80) {
        if (len + 1 > UINT32_MAX)
            return buf_fail(b, CUST_ERR_TOO_BIG);
        if (buf_put_u32(b, (uint32_t)(len + 1)) != 0)
            return b->bad;
        if (buf_put(b, &zero, 1) != 0)
            return b->bad;
        return buf_put(b, mag, len);
    }
    return buf_put_string(b, mag, len);
}

int
buf_get(struct buf *b, void *out, size_t len)
{
    if (b->bad)
        return b->bad;
    if (len > buf_remaining(b))
        return buf_fail(b, CUST_ERR_ARG);
    if (len > 0)
        memcpy(out, b->data + b->off, len);
    b->off += len;
    return 0;
}

int
buf_get_u8(struct buf *b, uint8_t *v)
{
    return buf_get(b, v, 1);
}

int
buf_get_u32(struct buf *b, uint32_t *v)
{
    uint8_t be[4];

    if (buf_get(b, be, sizeof(be)) != 0)
        return b->bad;
    *v = (uint32_t)be[0] << 24 | (uint32_t)be[1] << 16 | (uint32_t)be[2] << 8 |
         be[3];
    return 0;
}

int
buf_get_string(struct buf *b, const uint8_t **data, size_t *len, size_t max)
{
    size_t start = b->off;
    uint32_t n;

    if (buf_get_u32(b, &n) != 0)
        return b->bad;
    /* A length is checked before it is trusted for anything, and a failed
     * read leaves the offset where the string began. */
    if (n > max || n > buf_remaining(b)) {
        b->off = start;
        return buf_fail(b, CUST_ERR_ARG);
    }
    *data = b->data + b->off;
    *len = n;
    b->off += n;
    return 0;
}
