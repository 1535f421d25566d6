/*
 * A bounded byte buffer: the one type through which wire bytes are built
 * and parsed.
 *
 * Writing appends and grows the storage up to a limit fixed at creation.
 * Reading consumes from the front and checks the remaining length before
 * every read, so a parser can never run past what is there. After a failed
 * write or read the buffer is marked bad and every later call fails too, so
 * a sequence of calls may be checked once at the end with buf_status().
 * Integers are big-endian; a "string" is a uint32 length and that many
 * bytes, as in the SSH wire format.
 */
#ifndef CUSTODIAN_BUF_H
#define CUSTODIAN_BUF_H

#include <stddef.h>
#include <stdint.h>

struct buf {
    uint8_t *data;
    size_t len;   /* bytes written */
    size_t off;   /* bytes consumed by readers */
    size_t cap;   /* bytes allocated */
    size_t limit; /* most bytes this buffer may ever hold */
    int bad;      /* a write or read failed */
    int wipe;     /* zero storage before freeing or moving it */
};

/* Sets up an empty buffer that may grow to LIMIT bytes. Never fails. */
void buf_init(struct buf *b, size_t limit);

/* Like buf_init(), but the storage is wiped when released. */
void buf_init_secret(struct buf *b, size_t limit);

/* Sets up a read-only view of LEN bytes at DATA; not copied, not freed. */
void buf_view(struct buf *b, const void *data, size_t len);

/* Releases the storage (wiping it if secret). Accepts a zeroed struct. */
void buf_free(struct buf *b);

/* Returns 0 if no call on B has failed, CUST_ERR_TOO_BIG or _ARG if one
 * has (too big for a write; short or malformed data for a read). */
int buf_status(const struct buf *b);

/* Unread bytes and a pointer to them. */
size_t buf_remaining(const struct buf *b);
const uint8_t *buf_ptr(const struct buf *b);

/* Writers: return 0 or a negative custodian error (and mark B bad). */
int buf_put(struct buf *b, const void *data, size_t len);
int buf_put_u8(struct buf *b, uint8_t v);
int buf_put_u32(struct buf *b, uint32_t v);
int buf_put_string(struct buf *b, const void *data, size_t len);
int buf_put_cstring(struct buf *b, const char *s);

/* Overwrites the uint32 at offset OFF of what was written, as a length
 * filled in after its content. Fails if OFF + 4 exceeds the length. */
int buf_patch_u32(struct buf *b, size_t off, uint32_t v);

/* An SSH mpint from a big-endian unsigned magnitude (leading zero bytes
 * are dropped, a 0x00 is added when the top bit is set). */
int buf_put_mpint(struct buf *b, const uint8_t *mag, size_t len);

/* Readers: return 0 or CUST_ERR_ARG when too few bytes remain. */
int buf_get(struct buf *b, void *out, size_t len);
int buf_get_u8(struct buf *b, uint8_t *v);
int buf_get_u32(struct buf *b, uint32_t *v);

/* Reads a string without copying: *DATA points into B, valid while B is.
 * Fails if the length exceeds MAX or what remains. */
int buf_get_string(struct buf *b, const uint8_t **data, size_t *len,
                   size_t max);

#endif
