/*
 * custodiand under abuse, on a real token and a real socket: clients
 * that trickle a frame one byte a second, announce frames larger than
 * the protocol allows, pipeline garbage and more requests than may be in
 * flight, and open thousands of connections at once, some beyond
 * limits.max_connections. Throughout, a well-behaved client signs
 * through libcustodian and checks every signature with OpenSSL; a phase
 * in which it made no progress fails, and so does any error it meets.
 *
 * Usage: abuse SOCKET DAEMON-PID DAEMON-LOG AUDIT-LOG IDLE FRAME CONNS
 *              RSS-MIB
 * IDLE and FRAME are the daemon's limits.idle_timeout and frame_timeout
 * in seconds, CONNS how many connections to open at once; the daemon's
 * limits.max_connections must not exceed CONNS. RSS-MIB bounds the
 * daemon's resident memory (0: not checked). The key "release"
 * (ECDSA P-256) must be allowed to this process. Prints each phase and
 * its figures; exits 0 when every check passed.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdarg.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <openssl/x509.h>

#include "custodian/client.h"
#include "wire.h"

#define KEY "release"

/* Signing phases, each of which the well-behaved client must see through. */
enum phase { PH_START, PH_TRICKLE, PH_TOO_BIG, PH_PIPELINE, PH_FLOOD, PH_N };

static const char *const phase_names[PH_N] = {"start", "trickle", "too big",
                                              "pipelined", "flood"};

/* Trickling connections, each its own process. */
#define TRICKLERS 50
/* Connections of the flood kept busy, to show that they stay served. */
#define FLOOD_KEPT 20
/* Connections tried while the daemon is full. */
#define FLOOD_BEYOND 50
/* SIGN and PING pairs pipelined on one connection: past inflight_max. */
#define PIPELINED 300
/* Refused frames after which the daemon closes (docs/protocol.md). */
#define REFUSALS_MAX 16
/* How long any answer may take under load before the test gives up. */
#define ANSWER_MS 30000

static struct {
    const char *sock, *dlog, *alog;
    pid_t dpid;
    unsigned idle, frame, conns, rss_mib;
} cfg;

static int failures;

static void check(int ok, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static void
check(int ok, const char *fmt, ...)
{
    va_list ap;

    if (ok)
        return;
    failures++;
    fprintf(stderr, "abuse: FAIL: ");
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fputc('\n', stderr);
}

static long
now_ms(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec * 1000L + ts.tv_nsec / 1000000;
}

/* --- the well-behaved client --- */

static struct {
    pthread_t thread;
    atomic_int stop;
    atomic_int phase;
    atomic_ulong done[PH_N];
    atomic_ulong errors;
    char first_error[256];
    EVP_PKEY *pub;
} signer;

static void
signer_error(const char *what, const struct cust_conn *c, int rc)
{
    if (atomic_fetch_add(&signer.errors, 1) == 0)
        snprintf(signer.first_error, sizeof(signer.first_error),
                 "%s: %s (%s) in phase %s", what, cust_err_name(rc),
                 c != NULL ? cust_message(c) : "", phase_names[signer.phase]);
}

/* Whether SIG is KEY's ECDSA signature over DIGEST, as OpenSSL sees it. */
static int
signer_verified(const uint8_t *digest, const struct cust_signature *sig)
{
    EVP_PKEY_CTX *ctx = EVP_PKEY_CTX_new(signer.pub, NULL);
    int ok = ctx != NULL && EVP_PKEY_verify_init(ctx) == 1 &&
             EVP_PKEY_verify(ctx, sig->sig, sig->siglen, digest, 32) == 1;

    EVP_PKEY_CTX_free(ctx);
    return ok;
}

static int
signer_connect(struct cust_conn **out)
{
    uint8_t spki[WIRE_PUBKEY_MAX];
    const uint8_t *p = spki;
    struct cust_key info;
    size_t len;
    int rc = cust_connect(cfg.sock, "abuse-signer 1", out);

    if (rc != 0) {
        signer_error("connect", NULL, rc);
        return rc;
    }
    if (signer.pub != NULL)
        return 0;
    rc = cust_pubkey(*out, KEY, &info, spki, sizeof(spki), &len);
    if (rc == 0 && (signer.pub = d2i_PUBKEY(NULL, &p, (long)len)) == NULL)
        rc = CUST_ERR_INTERNAL;
    if (rc != 0)
        signer_error("pubkey", *out, rc);
    return rc;
}

/* Signs one fresh digest and checks the signature; 0 when it verified. */
static int
signer_once(struct cust_conn *c)
{
    struct cust_sign_req req = {.key = KEY, .digest = "sha256"};
    struct cust_signature sig;
    uint8_t digest[32];
    int rc;

    RAND_bytes(digest, sizeof(digest));
    req.data = digest;
    req.len = sizeof(digest);
    rc = cust_sign(c, &req, &sig);
    if (rc != 0) {
        signer_error("sign", c, rc);
        return rc;
    }
    if (!signer_verified(digest, &sig)) {
        signer_error("verify", c, CUST_ERR_INTERNAL);
        return CUST_ERR_INTERNAL;
    }
    atomic_fetch_add(&signer.done[atomic_load(&signer.phase)], 1);
    return 0;
}

/* Signs until stopped, a few milliseconds apart; reconnects after an
 * error, which the test counts against the daemon. */
static void *
signer_run(void *arg)
{
    struct timespec pause = {0, 5 * 1000000};
    struct cust_conn *c = NULL;

    (void)arg;
    while (!atomic_load(&signer.stop)) {
        if (c == NULL && signer_connect(&c) != 0) {
            cust_close(c);
            c = NULL;
            sleep(1);
            continue;
        }
        if (signer_once(c) != 0) {
            cust_close(c);
            c = NULL;
        }
        nanosleep(&pause, NULL);
    }
    cust_close(c);
    return NULL;
}

/* Ends phase P: the client must have signed during it. */
static void
phase_end(enum phase p)
{
    long deadline = now_ms() + ANSWER_MS;

    while (atomic_load(&signer.done[p]) == 0 && now_ms() < deadline)
        usleep(50000);
    printf("%s: the well-behaved client signed %lu, errors so far %lu\n",
           phase_names[p], atomic_load(&signer.done[p]),
           atomic_load(&signer.errors));
    check(atomic_load(&signer.done[p]) > 0,
          "%s: the well-behaved client made no progress", phase_names[p]);
    if (p + 1 < PH_N)
        atomic_store(&signer.phase, p + 1);
}

/* --- the daemon's memory --- */

static atomic_ulong rss_peak_kib;

static unsigned long
rss_kib(void)
{
    char path[64], line[256];
    unsigned long v = 0;
    FILE *f;

    snprintf(path, sizeof(path), "/proc/%d/status", (int)cfg.dpid);
    if ((f = fopen(path, "re")) == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (sscanf(line, "VmRSS: %lu kB", &v) == 1)
            break;
    fclose(f);
    return v;
}

static void *
rss_watch(void *arg)
{
    unsigned long v;

    (void)arg;
    while (!atomic_load(&signer.stop)) {
        v = rss_kib();
        if (v > atomic_load(&rss_peak_kib))
            atomic_store(&rss_peak_kib, v);
        usleep(20000);
    }
    return NULL;
}

/* --- raw connections --- */

static int
raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", cfg.sock);
    if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("abuse: connect");
        _exit(2); /* also in children, which must not run atexit() */
    }
    return fd;
}

/* What came back on a connection. */
struct inbox {
    uint8_t *data;
    size_t len, cap;
    int eof;
};

static void
inbox_free(struct inbox *in)
{
    free(in->data);
    memset(in, 0, sizeof(*in));
}

/* Complete frames in IN. */
static size_t
inbox_frames(const struct inbox *in)
{
    size_t pos = 0, frame, n = 0;

    if (in->data == NULL)
        return 0;
    while (wire_frame_check(in->data + pos, in->len - pos, &frame) == 0) {
        pos += frame;
        n++;
    }
    return n;
}

/* Frame I of IN: its type and body. */
static uint8_t
inbox_frame(const struct inbox *in, size_t i, struct buf *body)
{
    size_t pos = 0, frame = 0;
    uint8_t type;

    for (;;) {
        if (wire_frame_check(in->data + pos, in->len - pos, &frame) != 0)
            abort(); /* the caller counted them */
        if (i-- == 0)
            break;
        pos += frame;
    }
    wire_open(in->data + pos, frame, &type, body);
    return type;
}

static int
inbox_read(int fd, struct inbox *in)
{
    ssize_t n;

    if (in->cap - in->len < 65536) {
        in->cap = in->cap * 2 + 131072;
        if ((in->data = realloc(in->data, in->cap)) == NULL)
            abort();
    }
    n = recv(fd, in->data + in->len, in->cap - in->len, MSG_DONTWAIT);
    if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR))
        in->eof = 1; /* a reset after the daemon closed counts as EOF */
    if (n > 0)
        in->len += (size_t)n;
    return in->eof;
}

/*
 * Sends LEN bytes of OUT while reading what comes back into IN, until
 * WANT frames have come, the daemon closed, or TIMEOUT_MS passed. What
 * the daemon did not read before it closed is not sent. Returns 0, or
 * -1 on a timeout.
 */
static int
pump(int fd, const void *out, size_t len, size_t want, long timeout_ms,
     struct inbox *in)
{
    long deadline = now_ms() + timeout_ms;
    size_t sent = 0;
    ssize_t n;

    while (!in->eof && (want == 0 || inbox_frames(in) < want)) {
        struct pollfd p = {.fd = fd, .events = POLLIN};
        long left = deadline - now_ms();

        if (sent < len)
            p.events |= POLLOUT;
        if (left <= 0)
            return -1;
        if (poll(&p, 1, (int)left) < 0 && errno != EINTR)
            return -1;
        if (p.revents & (POLLIN | POLLHUP | POLLERR))
            inbox_read(fd, in);
        if (sent < len && (p.revents & POLLOUT)) {
            n = send(fd, (const uint8_t *)out + sent, len - sent,
                     MSG_DONTWAIT | MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN && errno != EINTR)
                sent = len; /* closed: nothing more will be read */
        }
    }
    return 0;
}

/* Waits for the daemon to close FD; 1 if it did within TIMEOUT_MS with
 * nothing more said, else 0. */
static int
closed_quietly(int fd, long timeout_ms)
{
    struct inbox in = {0};
    int ok;

    pump(fd, NULL, 0, 0, timeout_ms, &in);
    ok = in.eof && in.len == 0;
    inbox_free(&in);
    return ok;
}

/* The ERROR frame I of IN: its code, or 0 when it is something else. */
static int
error_code(const struct inbox *in, size_t i, char *msg, size_t max)
{
    struct wire_error e;
    struct buf body;

    if (inbox_frame(in, i, &body) != WIRE_ERROR || wire_get_error(&body, &e))
        return 0;
    if (msg != NULL)
        snprintf(msg, max, "%s", e.message);
    return e.code;
}

static void
put_hello(struct buf *b, const char *name)
{
    struct wire_hello h = {.version = WIRE_VERSION};

    snprintf(h.name, sizeof(h.name), "%s", name);
    wire_put_hello(b, WIRE_HELLO, &h);
}

/* A connection that has said HELLO and heard HELLO_OK. */
static int
raw_hello(void)
{
    struct inbox in = {0};
    struct buf b;
    struct buf body;
    int fd = raw_connect();

    buf_init(&b, WIRE_FRAME_MAX + WIRE_HEADER);
    put_hello(&b, "abuse 1");
    pump(fd, b.data, b.len, 1, ANSWER_MS, &in);
    check(inbox_frames(&in) == 1 && inbox_frame(&in, 0, &body) == WIRE_HELLO_OK,
          "no HELLO_OK");
    buf_free(&b);
    inbox_free(&in);
    return fd;
}

/* Lines of the file at PATH that hold A and B (B may be NULL). */
static unsigned
lines_with(const char *path, const char *a, const char *b)
{
    char line[65600];
    unsigned n = 0;
    FILE *f = fopen(path, "re");

    if (f == NULL)
        return 0;
    while (fgets(line, sizeof(line), f) != NULL)
        if (strstr(line, a) != NULL && (b == NULL || strstr(line, b) != NULL))
            n++;
    fclose(f);
    return n;
}

static int
daemon_alive(void)
{
    return kill(cfg.dpid, 0) == 0;
}

/* --- a frame one byte a second --- */

/*
 * In a child of its own, so that the daemon's log and audit record name
 * this connection by its pid. Sends FRAME one byte a second and expects
 * the daemon to give up on it within frame_timeout: one ERROR
 * (CUST_ERR_TIMEOUT), then the end of the connection. Exit status 0 when
 * so; the others say what went wrong.
 */
static void
trickle_child(const uint8_t *frame, size_t len)
{
    struct inbox in = {0};
    size_t i;
    int fd = raw_connect();

    for (i = 0; i < len && in.len == 0 && !in.eof; i++) {
        send(fd, frame + i, 1, MSG_NOSIGNAL);
        pump(fd, NULL, 0, 1, 1000, &in);
    }
    if (inbox_frames(&in) == 0 && pump(fd, NULL, 0, 1, ANSWER_MS, &in) != 0)
        _exit(10); /* nothing came back */
    if (inbox_frames(&in) != 1 ||
        error_code(&in, 0, NULL, 0) != CUST_ERR_TIMEOUT)
        _exit(11);
    if (pump(fd, NULL, 0, 0, ANSWER_MS, &in) != 0 || inbox_frames(&in) != 1)
        _exit(12); /* not closed, or more was said */
    _exit(0);
}

static void
phase_trickle(void)
{
    char pid[32], cut[64];
    pid_t kids[TRICKLERS];
    struct buf b;
    int i, status;

    /* A HELLO long enough to take longer than frame_timeout, trickled. */
    buf_init(&b, WIRE_FRAME_MAX + WIRE_HEADER);
    put_hello(&b, "abuse trickle 1 abcdefghijklmnopqrstuvwxyz0123456789");
    check(b.len > cfg.frame + 2, "trickled frame too short for the timeout");
    for (i = 0; i < TRICKLERS; i++) {
        fflush(NULL);
        if ((kids[i] = fork()) == 0)
            trickle_child(b.data, b.len);
        check(kids[i] > 0, "fork: %s", strerror(errno));
    }
    snprintf(cut, sizeof(cut), "a frame begun %us ago is not complete",
             cfg.frame);
    for (i = 0; i < TRICKLERS; i++) {
        if (kids[i] <= 0)
            continue;
        waitpid(kids[i], &status, 0);
        check(WIFEXITED(status) && WEXITSTATUS(status) == 0,
              "trickling pid %d: status %d (10: no answer, 11: not "
              "CUST_ERR_TIMEOUT, 12: not closed after it)",
              (int)kids[i], status);
        snprintf(pid, sizeof(pid), "of pid %d ", (int)kids[i]);
        check(lines_with(cfg.dlog, pid, cut) == 1,
              "no log line names trickling pid %d", (int)kids[i]);
        snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)kids[i]);
        check(lines_with(cfg.alog, pid, "\"event\":\"refused\"") == 1 &&
                  lines_with(cfg.alog, pid, "\"error\":\"CUST_ERR_TIMEOUT\"") ==
                      1,
              "no refusal of trickling pid %d in the audit log", (int)kids[i]);
    }
    buf_free(&b);
    printf("trickle: %d connections cut after frame_timeout, each answered "
           "CUST_ERR_TIMEOUT, audited and logged by its pid\n",
           TRICKLERS);
    phase_end(PH_TRICKLE);
}

/* --- oversized frames --- */

/* Announces a frame of LEN bytes, after HELLO when HELLO_FIRST. */
static void
too_big_once(uint32_t len, int hello_first)
{
    uint8_t head[4 + 32] = {(uint8_t)(len >> 24), (uint8_t)(len >> 16),
                            (uint8_t)(len >> 8), (uint8_t)len, 0x05};
    struct inbox in = {0};
    int fd = hello_first ? raw_hello() : raw_connect();

    /* A few bytes of the announced frame follow, as a real one would. */
    check(pump(fd, head, sizeof(head), 0, ANSWER_MS, &in) == 0,
          "length %u: the daemon did not close the connection", len);
    check(inbox_frames(&in) == 1 &&
              error_code(&in, 0, NULL, 0) == CUST_ERR_TOO_BIG,
          "length %u: not answered CUST_ERR_TOO_BIG", len);
    inbox_free(&in);
    close(fd);
}

/* A frame of exactly the largest length is read, not refused as big. */
static void
largest_frame(void)
{
    size_t len = WIRE_HEADER + WIRE_FRAME_MAX;
    uint8_t *frame = calloc(1, len);
    struct inbox in = {0};
    struct buf b, body;
    int fd = raw_hello();

    if (frame == NULL)
        abort();
    frame[1] = 0x01; /* 65536 */
    frame[4] = 0x7e; /* a type no one knows */
    buf_init(&b, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_ping(&b, WIRE_PING, "after the largest frame");
    pump(fd, frame, len, 1, ANSWER_MS, &in);
    pump(fd, b.data, b.len, 2, ANSWER_MS, &in);
    check(inbox_frames(&in) == 2 &&
              error_code(&in, 0, NULL, 0) == CUST_ERR_UNKNOWN_MESSAGE &&
              inbox_frame(&in, 1, &body) == WIRE_PONG,
          "a frame of the largest length was not read as a frame");
    buf_free(&b);
    inbox_free(&in);
    free(frame);
    close(fd);
}

static void
phase_too_big(void)
{
    char pid[32];
    unsigned before;

    snprintf(pid, sizeof(pid), "\"pid\":%d,", (int)getpid());
    before = lines_with(cfg.alog, pid, "\"error\":\"CUST_ERR_TOO_BIG\"");
    too_big_once(0xffffffffu, 0); /* 4 GiB, the most a length can say */
    too_big_once(0xffffffffu, 1);
    too_big_once(WIRE_FRAME_MAX + 1, 0);
    too_big_once(WIRE_FRAME_MAX + 1, 1);
    too_big_once(0, 1);
    largest_frame();
    check(lines_with(cfg.alog, pid, "\"error\":\"CUST_ERR_TOO_BIG\"") ==
              before + 5,
          "oversized frames: not one audited refusal each");
    snprintf(pid, sizeof(pid), "of pid %d ", (int)getpid());
    check(lines_with(cfg.dlog, pid, "frame length out of range") == 5,
          "oversized frames: not one log line each");
    check(daemon_alive(), "the daemon died of an oversized frame");
    printf("too big: lengths of 4 GiB, 65537 and 0 answered CUST_ERR_TOO_BIG "
           "and closed; 65536 read\n");
    phase_end(PH_TOO_BIG);
}

/* --- pipelined garbage --- */

/* Deterministic garbage: the same bytes on every run. */
static uint32_t
garbage_next(uint32_t *s)
{
    *s ^= *s << 13;
    *s ^= *s >> 17;
    *s ^= *s << 5;
    return *s;
}

/* Sends OUT after HELLO: the daemon must refuse it with ERRORs only,
 * at least MIN of them, and close the connection. */
static void
garbage_refused(const char *what, const struct buf *out, size_t min)
{
    struct inbox in = {0};
    size_t i, n;
    int fd = raw_hello();

    check(pump(fd, out->data, out->len, 0, ANSWER_MS, &in) == 0 && in.eof,
          "%s: the connection was not closed", what);
    n = inbox_frames(&in);
    check(n >= min, "%s: %zu answers, expected %zu at least", what, n, min);
    for (i = 0; i < n; i++)
        check(error_code(&in, i, NULL, 0) < 0, "%s: answer %zu is not an ERROR",
              what, i);
    inbox_free(&in);
    close(fd);
}

/* Random bytes, then well-framed random messages of every type. */
static void
pipeline_random(void)
{
    uint32_t seed = 0x2545f491, len, i, j;
    struct buf b;

    buf_init(&b, 1 << 20);
    for (i = 0; i < 65536; i++)
        buf_put_u8(&b, (uint8_t)garbage_next(&seed));
    garbage_refused("random bytes", &b, 1);
    buf_free(&b);

    buf_init(&b, 1 << 20);
    for (i = 0; i < 4 * REFUSALS_MAX; i++) {
        len = 1 + garbage_next(&seed) % 300;
        buf_put_u32(&b, len);
        for (j = 0; j < len; j++)
            buf_put_u8(&b, (uint8_t)garbage_next(&seed));
    }
    garbage_refused("random frames", &b, REFUSALS_MAX);
    buf_free(&b);
}

/* SIGN of DIGEST then PING "I", each pair PIPELINED times, in one go. */
static void
put_sign_ping(struct buf *b, const uint8_t *digest, size_t i)
{
    struct wire_sign s = {.key = KEY, .digest = "sha256", .datalen = 32};
    char payload[32];

    s.data = digest;
    wire_put_sign(b, &s);
    snprintf(payload, sizeof(payload), "%zu", i);
    wire_put_ping(b, WIRE_PING, payload);
}

/* Answer pair I: a signature over DIGEST, then PONG "I". */
static int
pair_answered(const struct inbox *in, size_t i, const uint8_t *digest)
{
    struct cust_signature sig = {0};
    struct wire_signature ws;
    char want[32], payload[WIRE_MESSAGE_MAX + 1];
    struct buf body;

    if (inbox_frame(in, 2 * i, &body) != WIRE_SIGNATURE ||
        wire_get_signature(&body, &ws) != 0 || ws.siglen > sizeof(sig.sig))
        return 0;
    memcpy(sig.sig, ws.sig, ws.siglen);
    sig.siglen = ws.siglen;
    snprintf(want, sizeof(want), "%zu", i);
    return signer_verified(digest, &sig) &&
           inbox_frame(in, 2 * i + 1, &body) == WIRE_PONG &&
           wire_get_ping(&body, payload) == 0 && strcmp(payload, want) == 0;
}

static void
pipeline_in_order(void)
{
    static uint8_t digests[PIPELINED][32];
    struct inbox in = {0};
    struct buf b;
    size_t i, ok = 0;
    int fd = raw_hello();

    buf_init(&b, 2 * PIPELINED * 256);
    RAND_bytes(&digests[0][0], sizeof(digests));
    for (i = 0; i < PIPELINED; i++)
        put_sign_ping(&b, digests[i], i);
    check(pump(fd, b.data, b.len, 2 * PIPELINED, ANSWER_MS, &in) == 0,
          "pipelined: %zu answers of %d", inbox_frames(&in), 2 * PIPELINED);
    for (i = 0; i < PIPELINED && 2 * i + 1 < inbox_frames(&in); i++)
        ok += pair_answered(&in, i, digests[i]);
    check(ok == PIPELINED, "pipelined: %zu of %d pairs answered in order", ok,
          PIPELINED);
    buf_free(&b);
    inbox_free(&in);
    close(fd);
}

/*
 * VALID PINGs, then frames the daemon must refuse (a type no one knows,
 * or SIGN bodies that do not decode), then more PINGs: the PINGs before
 * are answered in order, REFUSALS_MAX refusals, then the end.
 */
static void
pipeline_then_garbage(int valid, uint8_t bad_type)
{
    static const uint8_t bad_body[] = {0, 0, 0, 9, 'x'};
    struct inbox in = {0};
    char payload[WIRE_MESSAGE_MAX + 1], want[32];
    struct buf b, body;
    size_t n;
    int fd = raw_hello(), i;

    buf_init(&b, WIRE_FRAME_MAX);
    for (i = 0; i < valid; i++) {
        snprintf(payload, sizeof(payload), "%d", i);
        wire_put_ping(&b, WIRE_PING, payload);
    }
    for (i = 0; i < 2 * REFUSALS_MAX; i++) {
        buf_put_u32(&b, 1 + sizeof(bad_body));
        buf_put_u8(&b, bad_type);
        buf_put(&b, bad_body, sizeof(bad_body));
        wire_put_ping(&b, WIRE_PING, "after garbage");
    }
    check(pump(fd, b.data, b.len, 0, ANSWER_MS, &in) == 0 && in.eof,
          "garbage of type %d: the connection was not closed", bad_type);
    n = inbox_frames(&in);
    for (i = 0; i < valid && (size_t)i < n; i++) {
        snprintf(want, sizeof(want), "%d", i);
        check(inbox_frame(&in, (size_t)i, &body) == WIRE_PONG &&
                  wire_get_ping(&body, payload) == 0 &&
                  strcmp(payload, want) == 0,
              "garbage of type %d: PING %d not answered in order", bad_type, i);
    }
    /* Between the refusals, the PINGs are still answered. */
    check(n == (size_t)valid + 2 * REFUSALS_MAX - 1,
          "garbage of type %d: %zu answers, expected %d", bad_type, n,
          valid + 2 * REFUSALS_MAX - 1);
    check(n > 0 && error_code(&in, n - 1, payload, sizeof(payload)) < 0 &&
              strstr(payload, "too many refused frames") != NULL,
          "garbage of type %d: the last answer is not the closing refusal",
          bad_type);
    buf_free(&b);
    inbox_free(&in);
    close(fd);
}

static void
phase_pipeline(void)
{
    pipeline_random();
    pipeline_in_order();
    pipeline_then_garbage(10, 0x7e);
    pipeline_then_garbage(3, WIRE_SIGN);
    check(daemon_alive(), "the daemon died of garbage");
    printf("pipelined: random bytes refused and closed; %d SIGN and PING "
           "pairs answered in order; valid frames then garbage: answered, "
           "refused, closed after %d refusals\n",
           PIPELINED, REFUSALS_MAX);
    phase_end(PH_PIPELINE);
}

/* --- thousands of connections --- */

/* PINGs each of the N connections at FDS and expects its PONG. */
static int
kept_served(const int *fds, int n)
{
    struct inbox in = {0};
    struct buf b, body;
    int i, ok = 0;

    buf_init(&b, WIRE_FRAME_MAX);
    wire_put_ping(&b, WIRE_PING, "still here");
    for (i = 0; i < n; i++) {
        pump(fds[i], b.data, b.len, 1, ANSWER_MS, &in);
        ok += inbox_frames(&in) == 1 && inbox_frame(&in, 0, &body) == WIRE_PONG;
        inbox_free(&in);
    }
    buf_free(&b);
    return ok == n;
}

/* Connections tried while the daemon is full: each closed at once,
 * well before an idle connection would be. */
static void
flood_beyond(void)
{
    int i, refused = 0, fd;

    for (i = 0; i < FLOOD_BEYOND; i++) {
        fd = raw_connect();
        refused += closed_quietly(fd, (long)cfg.idle * 1000 / 2);
        close(fd);
    }
    check(refused == FLOOD_BEYOND,
          "beyond max_connections: %d of %d connections refused", refused,
          FLOOD_BEYOND);
    check(lines_with(cfg.dlog, "the most allowed: new ones are closed", NULL) >=
              1,
          "the refusal at max_connections is not logged");
}

/* How many of the N connections at FDS the daemon has closed. */
static int
closed_now(const int *fds, int n)
{
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    int i, closed = 0;

    if (p == NULL)
        abort();
    for (i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = fds[i], .events = POLLIN};
    if (poll(p, (nfds_t)n, 0) > 0)
        for (i = 0; i < n; i++)
            closed += (p[i].revents & (POLLIN | POLLHUP)) != 0;
    free(p);
    return closed;
}

/*
 * Waits, keeping the first FLOOD_KEPT connections busy, until every
 * other one has been closed by the daemon. Returns how many were.
 */
static int
flood_idle_out(const int *fds, int n)
{
    struct pollfd *p = calloc((size_t)n, sizeof(*p));
    long deadline = now_ms() + (long)cfg.idle * 4000 + ANSWER_MS;
    int i, open = n - FLOOD_KEPT;
    char c;

    if (p == NULL)
        abort();
    for (i = 0; i < n; i++)
        p[i] = (struct pollfd){.fd = i < FLOOD_KEPT ? -1 : fds[i],
                               .events = POLLIN};
    while (open > 0 && now_ms() < deadline) {
        check(kept_served(fds, FLOOD_KEPT), "a busy connection was harmed");
        if (poll(p, (nfds_t)n, 1000) <= 0)
            continue;
        for (i = FLOOD_KEPT; i < n; i++) {
            if (p[i].fd < 0 || p[i].revents == 0)
                continue;
            check(recv(p[i].fd, &c, 1, MSG_DONTWAIT) <= 0,
                  "an idle connection was sent something");
            p[i].fd = -1;
            open--;
        }
    }
    free(p);
    return n - FLOOD_KEPT - open;
}

static void
phase_flood(void)
{
    int *fds = calloc(cfg.conns, sizeof(int)), i, n = (int)cfg.conns, cut;
    int refused;
    unsigned long before = rss_kib();
    unsigned logged;
    char idle[64], pid[32];
    long t0 = now_ms(), opened;

    if (fds == NULL)
        abort();
    printf("flood: daemon RSS %lu KiB before\n", before);
    for (i = 0; i < n; i++)
        fds[i] = i < FLOOD_KEPT ? raw_hello() : raw_connect();
    opened = now_ms() - t0;
    printf("flood: %d connections opened in %ld ms, daemon RSS %lu KiB\n", n,
           opened, rss_kib());
    flood_beyond();
    check(kept_served(fds, FLOOD_KEPT), "connections harmed by refusals");
    /* Those the daemon had no room for are closed by now; the others
     * wait for idle_timeout, each closing logged. */
    refused = closed_now(fds + FLOOD_KEPT, n - FLOOD_KEPT);
    cut = flood_idle_out(fds, n);
    check(cut == n - FLOOD_KEPT, "only %d of %d idle connections closed", cut,
          n - FLOOD_KEPT);
    snprintf(idle, sizeof(idle), "idle for %us", cfg.idle);
    snprintf(pid, sizeof(pid), "of pid %d ", (int)getpid());
    logged = lines_with(cfg.dlog, pid, idle);
    printf("flood: %d held and closed when idle (%u logged), %d refused at "
           "the limit, %d busy ones served throughout, %d more refused; "
           "peak RSS %lu KiB\n",
           cut - refused, logged, refused, FLOOD_KEPT, FLOOD_BEYOND,
           atomic_load(&rss_peak_kib));
    check(logged == (unsigned)(cut - refused),
          "%u idle connections logged, %d held", logged, cut - refused);
    check(cut - refused > n / 2, "the daemon held only %d connections",
          cut - refused);
    for (i = 0; i < n; i++)
        close(fds[i]);
    free(fds);
    check(daemon_alive(), "the daemon died of the flood");
    phase_end(PH_FLOOD);
}

static unsigned
arg_uint(const char *s)
{
    char *end;
    unsigned long v = strtoul(s, &end, 10);

    if (*s == '\0' || *end != '\0' || v > 1000000) {
        fprintf(stderr, "abuse: not a number: %s\n", s);
        exit(2);
    }
    return (unsigned)v;
}

static void
args(int argc, char **argv)
{
    if (argc != 9) {
        fprintf(stderr, "usage: abuse SOCKET DAEMON-PID DAEMON-LOG AUDIT-LOG "
                        "IDLE FRAME CONNS RSS-MIB\n");
        exit(2);
    }
    cfg.sock = argv[1];
    cfg.dpid = (pid_t)arg_uint(argv[2]);
    cfg.dlog = argv[3];
    cfg.alog = argv[4];
    cfg.idle = arg_uint(argv[5]);
    cfg.frame = arg_uint(argv[6]);
    cfg.conns = arg_uint(argv[7]);
    cfg.rss_mib = arg_uint(argv[8]);
    if (cfg.conns <= FLOOD_KEPT || cfg.idle < 2) {
        fprintf(stderr, "abuse: CONNS must exceed %d, IDLE be 2 or more\n",
                FLOOD_KEPT);
        exit(2);
    }
}

int
main(int argc, char **argv)
{
    pthread_t watch;

    args(argc, argv);
    setvbuf(stdout, NULL, _IOLBF, 0);
    pthread_create(&signer.thread, NULL, signer_run, NULL);
    pthread_create(&watch, NULL, rss_watch, NULL);
    phase_end(PH_START);
    phase_trickle();
    phase_too_big();
    phase_pipeline();
    phase_flood();
    atomic_store(&signer.stop, 1);
    pthread_join(signer.thread, NULL);
    pthread_join(watch, NULL);
    check(atomic_load(&signer.errors) == 0,
          "the well-behaved client met %lu errors; the first: %s",
          atomic_load(&signer.errors), signer.first_error);
    if (cfg.rss_mib > 0)
        check(atomic_load(&rss_peak_kib) < cfg.rss_mib * 1024UL,
              "the daemon's RSS peaked at %lu KiB, over %u MiB",
              atomic_load(&rss_peak_kib), cfg.rss_mib);
    EVP_PKEY_free(signer.pub);
    printf("%s\n", failures == 0 ? "ok: every abuse refused, the daemon whole"
                                 : "FAILED");
    return failures == 0 ? 0 : 1;
}
