/*
 * Raw agent messages against the daemon's agent socket ($SSH_AUTH_SOCK),
 * for what ssh-add and ssh-keygen never send: truncated, oversized and
 * unknown messages, garbage key blobs, and an SSH login challenge, which
 * only a key with an "ssh-auth" grant signs.
 *
 * Usage: agent_raw AUTH-KEY OTHER-KEY RSA-KEY (names as listed, without
 * @V; RSA-KEY an RSA key that may sign for the namespace "file")
 * Exits 0 when every check passed; prints each failure.
 */
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

static int failures;

#define CHECK(cond, what)                                                      \
    do {                                                                       \
        if (!(cond)) {                                                         \
            fprintf(stderr, "agent_raw: FAIL: %s\n", what);                    \
            failures++;                                                        \
        }                                                                      \
    } while (0)

static int
agent_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", getenv("SSH_AUTH_SOCK"));
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("agent_raw: connect");
        exit(2);
    }
    return fd;
}

/* Reads one reply into BUF (at most MAX); its type, or -1 at EOF. */
static int
reply(int fd, uint8_t *buf, size_t max, size_t *len)
{
    uint8_t hdr[4];
    size_t n = 0, want;
    ssize_t got;

    while (n < 4 && (got = recv(fd, hdr + n, 4 - n, 0)) > 0)
        n += (size_t)got;
    if (n < 4)
        return -1;
    want = (size_t)hdr[0] << 24 | (size_t)hdr[1] << 16 | (size_t)hdr[2] << 8 |
           hdr[3];
    if (want == 0 || want > max)
        return -1;
    for (n = 0; n < want && (got = recv(fd, buf + n, want - n, 0)) > 0;)
        n += (size_t)got;
    *len = n;
    return n == want ? buf[0] : -1;
}

static void
put32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24), p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8), p[3] = (uint8_t)v;
}

static uint32_t
get32(const uint8_t *p)
{
    return (uint32_t)p[0] << 24 | (uint32_t)p[1] << 16 | (uint32_t)p[2] << 8 |
           p[3];
}

/* The blob of the key listed with comment NAME@..., copied to OUT. */
static size_t
find_blob(int fd, const char *name, uint8_t *out)
{
    static const uint8_t ask[] = {0, 0, 0, 1, 11};
    uint8_t buf[65536];
    size_t len = 0, off = 5, blen, clen;
    uint32_t n, i;

    send(fd, ask, sizeof(ask), 0);
    if (reply(fd, buf, sizeof(buf), &len) != 12)
        return 0;
    n = get32(buf + 1);
    for (i = 0; i < n && off + 4 <= len; i++) {
        blen = get32(buf + off);
        clen = get32(buf + off + 4 + blen);
        if (clen > strlen(name) &&
            memcmp(buf + off + 8 + blen, name, strlen(name)) == 0 &&
            buf[off + 8 + blen + strlen(name)] == '@') {
            memcpy(out, buf + off + 4, blen);
            return blen;
        }
        off += 8 + blen + clen;
    }
    return 0;
}

static uint8_t answer[4096]; /* the last reply */
static size_t answer_len;

/* Sends SIGN_REQUEST for BLOB over DATA with FLAGS; the reply's type. */
static int
sign_flags(int fd, const uint8_t *blob, size_t blen, const uint8_t *data,
           size_t dlen, uint32_t flags)
{
    uint8_t msg[4096];
    size_t n = 4;

    msg[n++] = 13;
    put32(msg + n, (uint32_t)blen), n += 4;
    memcpy(msg + n, blob, blen), n += blen;
    put32(msg + n, (uint32_t)dlen), n += 4;
    memcpy(msg + n, data, dlen), n += dlen;
    put32(msg + n, flags), n += 4;
    put32(msg, (uint32_t)(n - 4));
    send(fd, msg, n, 0);
    return reply(fd, answer, sizeof(answer), &answer_len);
}

static int
sign(int fd, const uint8_t *blob, size_t blen, const uint8_t *data, size_t dlen)
{
    return sign_flags(fd, blob, blen, data, dlen, 0);
}

/* Whether the last reply is a signature named NAME. */
static int
answer_is(const char *name)
{
    size_t n = strlen(name);

    return answer_len > 9 + n && answer[0] == 14 && get32(answer + 5) == n &&
           memcmp(answer + 9, name, n) == 0;
}

/* An SSH signature preimage for "file" over a SHA-512 hash. */
static size_t
preimage(uint8_t *out)
{
    static const uint8_t head[] = {'S', 'S', 'H', 'S', 'I', 'G', 0,   0,
                                   0,   4,   'f', 'i', 'l', 'e', 0,   0,
                                   0,   0,   0,   0,   0,   6,   's', 'h',
                                   'a', '5', '1', '2', 0,   0,   0,   64};

    memcpy(out, head, sizeof(head));
    memset(out + sizeof(head), 0x3c, 64);
    return sizeof(head) + 64;
}

/* What ssh sends to sign for a login: a session id, then the request. */
static const uint8_t login[] = {0, 0, 0,  32, 1,  2,  3, 4, 5,   6,   7,
                                8, 9, 10, 11, 12, 1,  2, 3, 4,   5,   6,
                                7, 8, 9,  10, 11, 12, 1, 2, 3,   4,   5,
                                6, 7, 8,  50, 0,  0,  0, 3, 'b', 'o', 't'};

int
main(int argc, char **argv)
{
    static const uint8_t unknown[] = {0, 0, 0, 5, 17, 0, 0, 0, 0};
    static const uint8_t lock[] = {0, 0, 0, 5, 22, 0, 0, 0, 0};
    static const uint8_t short_sign[] = {0, 0,   0, 9, 13, 0, 0,
                                         0, 200, 1, 2, 3,  4};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 13};
    uint8_t auth[1024], other[1024], rsa[1024], junk[100], buf[512], pre[128];
    size_t alen, olen, rlen, plen = preimage(pre), len = 0;
    int fd;

    if (argc != 4) {
        fprintf(stderr, "usage: agent_raw AUTH-KEY OTHER-KEY RSA-KEY\n");
        return 2;
    }
    fd = agent_connect();
    alen = find_blob(fd, argv[1], auth);
    olen = find_blob(fd, argv[2], other);
    rlen = find_blob(fd, argv[3], rsa);
    CHECK(alen > 0 && olen > 0 && rlen > 0, "the keys listed");

    /* RSA: the hash the flags ask for; SHA-1 (no flag) is never used. */
    CHECK(sign_flags(fd, rsa, rlen, pre, plen, 2) == 14 &&
              answer_is("rsa-sha2-256"),
          "rsa-sha2-256 when asked");
    CHECK(sign_flags(fd, rsa, rlen, pre, plen, 4) == 14 &&
              answer_is("rsa-sha2-512"),
          "rsa-sha2-512 when asked");
    CHECK(sign_flags(fd, rsa, rlen, pre, plen, 0) == 14 &&
              answer_is("rsa-sha2-512"),
          "rsa-sha2-512 when no flag asks for SHA-2");

    /* An SSH login: signed by the key granted ssh-auth only. */
    CHECK(sign(fd, auth, alen, login, sizeof(login)) == 14,
          "a login challenge signed with an ssh-auth grant");
    CHECK(sign(fd, other, olen, login, sizeof(login)) == 5,
          "a login challenge refused without an ssh-auth grant");

    /* Failures that leave the connection serving. */
    memset(junk, 0x41, sizeof(junk));
    CHECK(sign(fd, junk, sizeof(junk), login, sizeof(login)) == 5,
          "a garbage key blob gets a failure");
    send(fd, unknown, sizeof(unknown), 0);
    CHECK(reply(fd, buf, sizeof(buf), &len) == 5, "adding a key is refused");
    send(fd, lock, sizeof(lock), 0);
    CHECK(reply(fd, buf, sizeof(buf), &len) == 5, "locking is refused");
    send(fd, short_sign, sizeof(short_sign), 0);
    CHECK(reply(fd, buf, sizeof(buf), &len) == 5,
          "a sign request cut short is refused");
    CHECK(find_blob(fd, argv[1], auth) == alen, "the connection still serves");

    /* A length past the limit: a failure, then the connection closes. */
    send(fd, huge, sizeof(huge), MSG_NOSIGNAL);
    CHECK(reply(fd, buf, sizeof(buf), &len) == 5, "an oversized message");
    CHECK(reply(fd, buf, sizeof(buf), &len) == -1, "closed after it");
    close(fd);

    /* A message cut off by the client going away; the next one is served. */
    fd = agent_connect();
    send(fd, short_sign, 6, 0);
    close(fd);
    fd = agent_connect();
    CHECK(find_blob(fd, argv[2], other) == olen, "served after a cut-off");
    close(fd);
    if (failures == 0)
        printf("agent_raw: all checks passed\n");
    return failures == 0 ? 0 : 1;
}
