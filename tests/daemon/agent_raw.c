/*
 * Raw agent messages against the daemon's agent socket ($SSH_AUTH_SOCK),
 * for what ssh-add and ssh-keygen never send: truncated, oversized and
 * unknown messages, garbage key blobs, and an SSH login challenge, which
 * only a key with an "ssh-auth" grant signs.
 *
 * Usage: agent_raw AUTH-KEY OTHER-KEY (key names as listed, without @V)
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

/* Sends SIGN_REQUEST for BLOB over DATA; returns the reply's type. */
static int
sign(int fd, const uint8_t *blob, size_t blen, const uint8_t *data, size_t dlen)
{
    uint8_t msg[4096], buf[4096];
    size_t n = 4, len = 0;

    msg[n++] = 13;
    put32(msg + n, (uint32_t)blen), n += 4;
    memcpy(msg + n, blob, blen), n += blen;
    put32(msg + n, (uint32_t)dlen), n += 4;
    memcpy(msg + n, data, dlen), n += dlen;
    put32(msg + n, 0), n += 4;
    put32(msg, (uint32_t)(n - 4));
    send(fd, msg, n, 0);
    return reply(fd, buf, sizeof(buf), &len);
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
    uint8_t auth[1024], other[1024], junk[100], buf[512];
    size_t alen, olen, len = 0;
    int fd;

    if (argc != 3) {
        fprintf(stderr, "usage: agent_raw AUTH-KEY OTHER-KEY\n");
        return 2;
    }
    fd = agent_connect();
    alen = find_blob(fd, argv[1], auth);
    olen = find_blob(fd, argv[2], other);
    CHECK(alen > 0 && olen > 0, "both keys listed");

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
