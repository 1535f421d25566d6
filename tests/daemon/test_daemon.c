/*
 * The real daemon on a real socket, driven through libcustodian:
 *
 *   CUSTODIAN_SOCKET   the daemon's signing socket
 *   CUST_TEST_AUDIT    its audit log
 *   CUST_TEST_OUT      a directory for files the shell checks with openssl
 *
 * The daemon's configuration (tests/daemon/daemon.sh) grants uid 0 the
 * keys "release" and "ed", "limited" at 2 then 1 an hour; denies
 * "secret"; uid 65534 has an expired identity; anyone else is unknown.
 * Connections idle for 3 seconds are closed. The "daemon" case runs
 * first; the "suspend" case (CUSTODIAN_ADMIN_SOCKET set) suspends and
 * resumes identity "root"; the "stop" case (CUST_TEST_DAEMON_PID set)
 * stops the daemon.
 */
#include <pthread.h>
#include <signal.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>
#include <openssl/x509.h>

#include "custodian/client.h"

#define NCLIENTS 32
#define NSIGNS   20

static const uint8_t message[] = "release artifact contents";

static struct cust_conn *
connect_ok(void)
{
    struct cust_conn *c = NULL;
    int rc = cust_connect(NULL, "test_daemon", &c);

    ck_assert_msg(rc == 0, "connect: %s", cust_err_str(rc));
    return c;
}

static EVP_PKEY *
public_key(struct cust_conn *c, const char *name)
{
    struct cust_key info;
    uint8_t spki[2048];
    const uint8_t *p = spki;
    size_t len = 0;

    ck_assert_int_eq(cust_pubkey(c, name, &info, spki, sizeof(spki), &len), 0);
    return d2i_PUBKEY(NULL, &p, (long)len);
}

static int
verify(EVP_PKEY *pub, const uint8_t *msg, size_t len,
       const struct cust_signature *s, const EVP_MD *md)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    int ok = EVP_DigestVerifyInit(ctx, NULL, md, NULL, pub) == 1 &&
             EVP_DigestVerify(ctx, s->sig, s->siglen, msg, len) == 1;

    EVP_MD_CTX_free(ctx);
    return ok;
}

/* Signs the SHA-256 of MESSAGE with KEY; returns the custodian result. */
static int
sign_sha256(struct cust_conn *c, const char *key, struct cust_signature *s)
{
    static const char *const ctx[] = {"artifact", "app.tar.gz", "job", "7",
                                      NULL};
    uint8_t digest[32];
    struct cust_sign_req r = {key, "sha256", digest, 32, NULL, "file", ctx};

    EVP_Digest(message, sizeof(message), digest, NULL, EVP_sha256(), NULL);
    return cust_sign(c, &r, s);
}

static void
save(const char *name, const void *data, size_t len)
{
    char path[512];
    FILE *f;

    snprintf(path, sizeof(path), "%s/%s", getenv("CUST_TEST_OUT"), name);
    f = fopen(path, "wb");
    ck_assert_ptr_nonnull(f);
    fwrite(data, 1, len, f);
    fclose(f);
}

START_TEST(sign_and_verify)
{
    struct cust_conn *c = connect_ok();
    struct cust_key keys[8];
    struct cust_signature s;
    EVP_PKEY *pub;
    size_t n = 0;
    unsigned char *der = NULL;
    int derlen;

    ck_assert_int_eq(cust_list(c, keys, 8, &n), 0);
    ck_assert_uint_eq(n, 4); /* release, ed, limited, rsa: not secret */
    ck_assert_str_eq(keys[0].name, "release");
    ck_assert_str_eq(keys[0].type, "ecdsa-p256");
    ck_assert_uint_eq(keys[0].version, 1);
    ck_assert(strncmp(keys[0].fingerprint, "SHA256:", 7) == 0);

    pub = public_key(c, "release");
    ck_assert_ptr_nonnull(pub);
    ck_assert_int_eq(sign_sha256(c, "release", &s), 0);
    ck_assert_str_eq(s.key.name, "release");
    ck_assert_uint_eq(s.key.version, 1);
    ck_assert_str_eq(s.key.fingerprint, keys[0].fingerprint);
    ck_assert(verify(pub, message, sizeof(message), &s, EVP_sha256()));

    /* For the shell: the message, signature and key, for openssl. */
    derlen = i2d_PUBKEY(pub, &der);
    save("release.der", der, (size_t)derlen);
    save("message", message, sizeof(message));
    save("message.sig", s.sig, s.siglen);
    OPENSSL_free(der);
    EVP_PKEY_free(pub);
    cust_close(c);
}
END_TEST

START_TEST(ed25519_signs_messages)
{
    struct cust_conn *c = connect_ok();
    struct cust_sign_req r = {"ed", NULL, message, sizeof(message),
                              NULL, NULL, NULL};
    struct cust_signature s;
    EVP_PKEY *pub = public_key(c, "ed");

    ck_assert_int_eq(cust_sign(c, &r, &s), 0);
    ck_assert_uint_eq(s.siglen, 64);
    ck_assert(verify(pub, message, sizeof(message), &s, NULL));
    EVP_PKEY_free(pub);
    cust_close(c);
}
END_TEST

START_TEST(refusals_name_their_cause)
{
    struct cust_conn *c = connect_ok();
    uint8_t digest[32] = {0};
    struct cust_sign_req r = {"release", "sha256", digest, 31,
                              NULL,      NULL,     NULL};
    struct cust_signature s;

    ck_assert_int_eq(cust_sign(c, &r, &s), CUST_ERR_DIGEST_LEN);
    r.len = 20;
    r.digest = "sha1";
    ck_assert_int_eq(cust_sign(c, &r, &s), CUST_ERR_DIGEST);
    r.key = "no-such-key";
    r.digest = "sha256";
    r.len = 32;
    ck_assert_int_eq(cust_sign(c, &r, &s), CUST_ERR_KEY_NOT_FOUND);
    ck_assert_int_eq(sign_sha256(c, "secret", &s), CUST_ERR_DENIED);
    ck_assert_str_eq(cust_message(c), "no grant of \"root\" allows sign of "
                                      "key \"secret\"");
    /* The connection survives every refusal. */
    ck_assert_int_eq(sign_sha256(c, "release", &s), 0);
    cust_close(c);
}
END_TEST

START_TEST(rate_limit)
{
    struct cust_conn *c = connect_ok();
    struct cust_signature s;

    ck_assert_int_eq(sign_sha256(c, "limited", &s), 0);
    ck_assert_int_eq(sign_sha256(c, "limited", &s), 0);
    ck_assert_int_eq(sign_sha256(c, "limited", &s), CUST_ERR_RATE_LIMITED);
    cust_close(c);
}
END_TEST

/* In a child as UID: signs once and exits with the custodian result. */
static int
sign_as(uid_t uid)
{
    struct cust_signature s;
    struct cust_conn *c = NULL;
    int status = 0, rc;
    pid_t pid = fork();

    ck_assert_int_ge(pid, 0);
    if (pid == 0) {
        if (setgid(65534) != 0 || setuid(uid) != 0)
            _exit(100);
        rc = cust_connect(NULL, "test_daemon", &c);
        if (rc == 0)
            rc = sign_sha256(c, "release", &s);
        cust_close(c);
        _exit(-rc);
    }
    waitpid(pid, &status, 0);
    return -WEXITSTATUS(status);
}

START_TEST(strangers_and_expired_identities)
{
    if (getuid() != 0) {
        fprintf(stderr, "not root: caller identity checks skipped\n");
        return;
    }
    ck_assert_int_eq(sign_as(65533), CUST_ERR_DENIED);
    ck_assert_int_eq(sign_as(65534), CUST_ERR_EXPIRED);
}
END_TEST

static int
raw_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);

    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s",
             getenv("CUSTODIAN_SOCKET"));
    ck_assert_int_eq(connect(fd, (struct sockaddr *)&sa, sizeof(sa)), 0);
    return fd;
}

/* Reads one frame's type and error code (0 if not an ERROR). */
static int
raw_answer(int fd, uint8_t *type)
{
    uint8_t buf[512];
    ssize_t n = recv(fd, buf, sizeof(buf), 0);

    if (n < 5)
        return 1;
    *type = buf[4];
    if (buf[4] != 0xff)
        return 0;
    return (int32_t)((uint32_t)buf[5] << 24 | (uint32_t)buf[6] << 16 |
                     (uint32_t)buf[7] << 8 | buf[8]);
}

START_TEST(garbage_is_answered)
{
    static const uint8_t hello[] = {0, 0, 0, 16,  1,   0,   0,   0,   1,   0,
                                    0, 0, 7, 'g', 'a', 'r', 'b', 'a', 'g', 'e'};
    static const uint8_t unknown[] = {0, 0, 0, 3, 0x42, 1, 2};
    static const uint8_t badlist[] = {0, 0, 0, 2, 3, 9};
    static const uint8_t huge[] = {0xff, 0xff, 0xff, 0xff, 5};
    uint8_t type = 0;
    int fd = raw_connect();

    /* Before HELLO, anything else is refused and the door closes. */
    ck_assert_int_eq(send(fd, badlist, sizeof(badlist), 0), 6);
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_PROTOCOL);
    close(fd);

    fd = raw_connect();
    send(fd, hello, sizeof(hello), 0);
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    ck_assert_uint_eq(type, 0x81);
    send(fd, unknown, sizeof(unknown), 0);
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_UNKNOWN_MESSAGE);
    send(fd, badlist, sizeof(badlist), 0); /* LIST takes no body */
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_PROTOCOL);
    send(fd, huge, sizeof(huge), 0);
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_TOO_BIG);
    ck_assert_int_eq(raw_answer(fd, &type), 1); /* closed */
    close(fd);
}
END_TEST

START_TEST(garbage_flood_is_cut)
{
    static const uint8_t hello[] = {0, 0, 0, 16,  1,   0,   0,   0,   1,   0,
                                    0, 0, 7, 'g', 'a', 'r', 'b', 'a', 'g', 'e'};
    static const uint8_t unknown[] = {0, 0, 0, 1, 0x42};
    uint8_t type = 0;
    int fd = raw_connect(), i, answers = 0;

    send(fd, hello, sizeof(hello), 0);
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    /* Each refused frame is audited, so a connection gets only a few. */
    for (i = 0; i < 100; i++)
        send(fd, unknown, sizeof(unknown), MSG_NOSIGNAL);
    while (raw_answer(fd, &type) != 1)
        answers++;
    ck_assert_int_le(answers, 16);
    ck_assert_int_ge(answers, 1);
    close(fd);
}
END_TEST

static const uint8_t raw_hello[] = {0, 0, 0, 16,  1,   0,   0,   0,   1,   0,
                                    0, 0, 7, 'r', 'a', 'w', 't', 'e', 's', 't'};

/* A raw connection that said HELLO and read HELLO_OK. */
static int
raw_greeted(void)
{
    uint8_t type = 0;
    int fd = raw_connect();

    ck_assert_int_eq(send(fd, raw_hello, sizeof(raw_hello), 0),
                     (ssize_t)sizeof(raw_hello));
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    ck_assert_uint_eq(type, 0x81);
    return fd;
}

/* Reads exactly LEN bytes; 0, or -1 at the end of the stream. */
static int
read_exact(int fd, uint8_t *p, size_t len)
{
    ssize_t n;

    while (len > 0) {
        n = recv(fd, p, len, 0);
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

/* Signs a few times on a connection of its own: the daemon serves others. */
static void
others_still_served(const char *while_what)
{
    struct cust_conn *c = connect_ok();
    EVP_PKEY *pub = public_key(c, "release");
    struct cust_signature s;
    int i, rc;

    for (i = 0; i < 10; i++) {
        rc = sign_sha256(c, "release", &s);
        ck_assert_msg(rc == 0, "sign %s: %s", while_what, cust_err_name(rc));
        ck_assert(verify(pub, message, sizeof(message), &s, EVP_sha256()));
    }
    cust_close(c);
    EVP_PKEY_free(pub);
}

/* Thousands of connections that say nothing cost the others nothing. */
START_TEST(idle_connections_do_not_hurt)
{
    enum { NIDLE = 2000 };
    static int fds[NIDLE];
    struct rlimit rl;
    int i;

    ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
    rl.rlim_cur = rl.rlim_max;
    setrlimit(RLIMIT_NOFILE, &rl);
    ck_assert_msg(rl.rlim_cur > NIDLE + 64, "need %d open files", NIDLE + 64);
    for (i = 0; i < NIDLE; i++)
        fds[i] = raw_greeted();
    others_still_served("beside 2000 idle connections");
    for (i = 0; i < NIDLE; i++)
        close(fds[i]);
}
END_TEST

/*
 * A client that sends and never reads: the daemon stops reading from it
 * once its answers pile up, serves everyone else meanwhile, and hands
 * over every answer, in order, once the client reads.
 */
START_TEST(stalled_client_does_not_block_others)
{
    uint8_t ping[4 + 1 + 4 + 200] = {0, 0, 0, 205, 0x02, 0, 0, 0, 200};
    uint8_t hdr[5], body[4 + 200];
    int fd = raw_greeted(), sent = 0, i;

    ck_assert_int_eq(fcntl(fd, F_SETFL, O_NONBLOCK), 0);
    for (;;) {
        memset(ping + 9, 'a' + sent % 26, 200);
        if (send(fd, ping, sizeof(ping), MSG_NOSIGNAL) != (ssize_t)sizeof(ping))
            break; /* the daemon stopped reading; buffers are full */
        sent++;
        ck_assert_int_lt(sent, 1000000);
    }
    /* A partial frame may have gone out: finish it, blocking. */
    ck_assert_int_eq(fcntl(fd, F_SETFL, 0), 0);
    ck_assert_msg(errno == EAGAIN || errno == EWOULDBLOCK, "send: %s",
                  strerror(errno));
    others_still_served("while a client is stalled");
    for (i = 0; i < sent; i++) {
        ck_assert_int_eq(read_exact(fd, hdr, 5), 0);
        ck_assert_uint_eq(hdr[4], 0x82); /* PONG */
        ck_assert_int_eq(read_exact(fd, body, sizeof(body)), 0);
        ck_assert_uint_eq(body[4], (uint8_t)('a' + i % 26));
    }
    close(fd);
}
END_TEST

/* A connection that says nothing is closed after the idle timeout. */
START_TEST(idle_connection_times_out)
{
    struct pollfd pfd = {.fd = raw_greeted(), .events = POLLIN};
    uint8_t b;

    ck_assert_int_eq(poll(&pfd, 1, 10000), 1);
    ck_assert_int_eq(recv(pfd.fd, &b, 1, 0), 0);
    close(pfd.fd);
}
END_TEST

static int signed_ok;
static pthread_mutex_t count_lock = PTHREAD_MUTEX_INITIALIZER;

/* Each request of the concurrent test signs its own message: "client
 * T request I", so that its audit record can be told from the others. */
static void
client_message(int t, int i, char *out, size_t len)
{
    snprintf(out, len, "client %d request %d", t, i);
}

static void *
client_thread(void *arg)
{
    int t = (int)(intptr_t)arg, i, good = 0;
    struct cust_conn *c = NULL;
    struct cust_signature s;
    EVP_PKEY *pub = NULL;
    char msg[64];
    uint8_t digest[32];
    struct cust_sign_req r = {"release", "sha256", digest, 32,
                              NULL,      "file",   NULL};

    if (cust_connect(NULL, "test_daemon", &c) != 0) {
        fprintf(stderr, "client: cannot connect\n");
        return NULL;
    }
    pub = public_key(c, "release");
    for (i = 0; i < NSIGNS; i++) {
        int rc;

        client_message(t, i, msg, sizeof(msg));
        EVP_Digest(msg, strlen(msg), digest, NULL, EVP_sha256(), NULL);
        rc = cust_sign(c, &r, &s);
        if (rc == 0 &&
            verify(pub, (const uint8_t *)msg, strlen(msg), &s, EVP_sha256()))
            good++;
        else
            fprintf(stderr, "client: %s: %s\n", cust_err_name(rc),
                    cust_message(c));
    }
    EVP_PKEY_free(pub);
    cust_close(c);
    pthread_mutex_lock(&count_lock);
    signed_ok += good;
    pthread_mutex_unlock(&count_lock);
    return NULL;
}

/* How many audit records of allowed signatures hold DIGEST (hex). */
static int
count_signatures_of(const char *hex)
{
    FILE *f = fopen(getenv("CUST_TEST_AUDIT"), "r");
    char line[8192], want[80];
    int n = 0;

    ck_assert_ptr_nonnull(f);
    snprintf(want, sizeof(want), "\"digest\":\"%s\"", hex);
    while (fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, "\"event\":\"sign\"") && strstr(line, want) &&
            strstr(line, "\"error\":null"))
            n++;
    }
    fclose(f);
    return n;
}

START_TEST(many_clients_each_audited)
{
    pthread_t t[NCLIENTS];
    char msg[64], hex[65];
    uint8_t digest[32];
    int i, j, k;

    for (i = 0; i < NCLIENTS; i++)
        pthread_create(&t[i], NULL, client_thread, (void *)(intptr_t)i);
    for (i = 0; i < NCLIENTS; i++)
        pthread_join(t[i], NULL);
    ck_assert_int_eq(signed_ok, NCLIENTS * NSIGNS);
    /* Every signature released has exactly one record: its own. */
    for (i = 0; i < NCLIENTS; i++) {
        for (j = 0; j < NSIGNS; j++) {
            client_message(i, j, msg, sizeof(msg));
            EVP_Digest(msg, strlen(msg), digest, NULL, EVP_sha256(), NULL);
            for (k = 0; k < 32; k++)
                snprintf(hex + 2 * k, 3, "%02x", digest[k]);
            ck_assert_msg(count_signatures_of(hex) == 1,
                          "\"%s\" has %d audit records", msg,
                          count_signatures_of(hex));
        }
    }
}
END_TEST

/* After HELLO: a PING answered with PONG shows the connection serves. */
static void
raw_ping_ok(int fd)
{
    static const uint8_t ping[] = {0, 0, 0, 7, 2, 0, 0, 0, 2, 'h', 'i'};
    uint8_t type = 0;

    ck_assert_int_eq(send(fd, ping, sizeof(ping), MSG_NOSIGNAL), sizeof(ping));
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    ck_assert_uint_eq(type, 0x82);
}

START_TEST(truncated_fields_are_answered)
{
    /* SIGN whose key claims 50 bytes where the frame holds 3. */
    static const uint8_t short_key[] = {0, 0, 0,  8,   5,   0,
                                        0, 0, 50, 'r', 'e', 'l'};
    /* SIGN whose data length runs past the end of the frame. */
    static const uint8_t short_data[] = {
        0, 0, 0,   24,  5,   0,   0,   0,   3, 'r', 'e', 'l', 0,    0,
        0, 6, 's', 'h', 'a', '2', '5', '6', 0, 0,   1,   0,   0xaa, 0xbb};
    static const uint8_t header_only[] = {0, 0, 0, 20, 5, 0, 0};
    uint8_t type = 0;
    int fd = raw_connect();

    send(fd, raw_hello, sizeof(raw_hello), 0);
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    send(fd, short_key, sizeof(short_key), MSG_NOSIGNAL);
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_PROTOCOL);
    raw_ping_ok(fd); /* the framing held: the connection stays */
    send(fd, short_data, sizeof(short_data), MSG_NOSIGNAL);
    ck_assert_int_eq(raw_answer(fd, &type), CUST_ERR_PROTOCOL);
    raw_ping_ok(fd);
    /* A frame cut off by the client going away: nothing to answer, and
     * the daemon serves the next caller. */
    send(fd, header_only, sizeof(header_only), MSG_NOSIGNAL);
    close(fd);
    fd = raw_connect();
    send(fd, raw_hello, sizeof(raw_hello), 0);
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    raw_ping_ok(fd);
    close(fd);
}
END_TEST

/* A SIGN frame for "release" over SHA-256 of "drain I", into OUT. */
static size_t
drain_frame(int i, uint8_t out[74])
{
    static const uint8_t head[] = {0,   0,   0,   70,  5,   0,   0, 0, 7, 'r',
                                   'e', 'l', 'e', 'a', 's', 'e', 0, 0, 0, 6,
                                   's', 'h', 'a', '2', '5', '6', 0, 0, 0, 32};
    char msg[32];

    snprintf(msg, sizeof(msg), "drain %d", i);
    memcpy(out, head, sizeof(head));
    EVP_Digest(msg, strlen(msg), out + sizeof(head), NULL, EVP_sha256(), NULL);
    memset(out + sizeof(head) + 32, 0, 12); /* scheme, namespace, 0 pairs */
    return 74;
}

/* Reads frames until the daemon closes; counts SIGNATURE answers. */
static int
drain_answers(int fd)
{
    static uint8_t in[1 << 16];
    size_t have = 0, frame;
    ssize_t n;
    int signatures = 0;

    while ((n = recv(fd, in + have, sizeof(in) - have, 0)) > 0) {
        have += (size_t)n;
        while (have >= 4) {
            frame = 4 + ((size_t)in[0] << 24 | (size_t)in[1] << 16 |
                         (size_t)in[2] << 8 | in[3]);
            if (have < frame)
                break;
            signatures += in[4] == 0x85;
            memmove(in, in + frame, have - frame);
            have -= frame;
        }
    }
    return signatures;
}

/* Suspends or resumes identity "root" on the admin socket. */
static void
identity_change(const char *action, const char *reason, const char *want)
{
    struct cust_conn *a = NULL;
    char result[257];
    int rc = cust_connect(getenv("CUSTODIAN_ADMIN_SOCKET"), "test_daemon", &a);

    ck_assert_msg(rc == 0, "admin connect: %s", cust_err_str(rc));
    rc = cust_identity_change(a, "root", action, reason, result);
    ck_assert_msg(rc == 0, "%s: %s: %s", action, cust_err_str(rc),
                  cust_message(a));
    ck_assert_str_eq(result, want);
    cust_close(a);
}

/*
 * A suspension holds from the very next request, on a connection opened
 * before it too, and says why; resuming gives the same connection its
 * signatures back.
 */
START_TEST(suspension_applies_to_open_connection)
{
    struct cust_conn *c = connect_ok(), *late;
    struct cust_signature s;
    EVP_PKEY *pub = public_key(c, "release");
    struct cust_key keys[8];
    size_t n = 9;

    ck_assert_int_eq(sign_sha256(c, "release", &s), 0);
    identity_change("suspend", "leaked CI token", "suspended");
    identity_change("suspend", "again", "already suspended");
    ck_assert_int_eq(sign_sha256(c, "release", &s), CUST_ERR_SUSPENDED);
    ck_assert_msg(strstr(cust_message(c), "identity \"root\" is suspended") &&
                      strstr(cust_message(c), "by ops: leaked CI token"),
                  "message: %s", cust_message(c));
    /* Nothing is listed to it either; a new connection fares the same. */
    ck_assert_int_eq(cust_list(c, keys, 8, &n), 0);
    ck_assert_uint_eq(n, 0);
    late = connect_ok();
    ck_assert_int_eq(sign_sha256(late, "rsa", &s), CUST_ERR_SUSPENDED);
    cust_close(late);

    identity_change("resume", NULL, "resumed");
    identity_change("resume", NULL, "not suspended");
    ck_assert_int_eq(sign_sha256(c, "release", &s), 0);
    ck_assert(verify(pub, message, sizeof(message), &s, EVP_sha256()));
    EVP_PKEY_free(pub);
    cust_close(c);
}
END_TEST

/*
 * Run with CUST_TEST_DAEMON_PID: pipelines signing requests, stops the
 * daemon with SIGTERM, and checks that every request that made it into
 * the audit log was answered before the daemon left.
 */
START_TEST(stop_answers_what_it_signed)
{
    pid_t pid = (pid_t)atoi(getenv("CUST_TEST_DAEMON_PID"));
    uint8_t frames[60 * 74], type = 0;
    char msg[32], hex[65];
    uint8_t digest[32];
    int fd = raw_connect(), i, k, answered, audited = 0;

    send(fd, raw_hello, sizeof(raw_hello), 0);
    ck_assert_int_eq(raw_answer(fd, &type), 0);
    for (i = 0; i < 60; i++)
        drain_frame(i, frames + 74 * i);
    ck_assert_int_eq(send(fd, frames, sizeof(frames), 0), sizeof(frames));
    ck_assert_int_eq(kill(pid, SIGTERM), 0);
    answered = drain_answers(fd);
    close(fd);
    for (i = 0; i < 150 && kill(pid, 0) == 0; i++)
        usleep(100000);
    ck_assert_msg(kill(pid, 0) != 0, "custodiand did not stop");
    for (i = 0; i < 60; i++) {
        snprintf(msg, sizeof(msg), "drain %d", i);
        EVP_Digest(msg, strlen(msg), digest, NULL, EVP_sha256(), NULL);
        for (k = 0; k < 32; k++)
            snprintf(hex + 2 * k, 3, "%02x", digest[k]);
        audited += count_signatures_of(hex);
    }
    ck_assert_int_gt(audited, 0);
    ck_assert_int_eq(answered, audited);
}
END_TEST

int
main(void)
{
    Suite *s = suite_create("daemon");
    TCase *tc = tcase_create("daemon");
    SRunner *sr;
    int failed, ran;

    tcase_set_timeout(tc, 120);
    tcase_add_test(tc, sign_and_verify);
    tcase_add_test(tc, ed25519_signs_messages);
    tcase_add_test(tc, refusals_name_their_cause);
    tcase_add_test(tc, rate_limit);
    tcase_add_test(tc, strangers_and_expired_identities);
    tcase_add_test(tc, garbage_is_answered);
    tcase_add_test(tc, garbage_flood_is_cut);
    tcase_add_test(tc, many_clients_each_audited);
    tcase_add_test(tc, idle_connections_do_not_hurt);
    tcase_add_test(tc, stalled_client_does_not_block_others);
    tcase_add_test(tc, idle_connection_times_out);
    tcase_add_test(tc, truncated_fields_are_answered);
    suite_add_tcase(s, tc);
    /* Run on its own (CK_RUN_CASE=suspend): it needs the admin socket. */
    tc = tcase_create("suspend");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, suspension_applies_to_open_connection);
    suite_add_tcase(s, tc);
    /* Run on its own (CK_RUN_CASE=stop): it stops the daemon. */
    tc = tcase_create("stop");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, stop_answers_what_it_signed);
    suite_add_tcase(s, tc);
    sr = srunner_create(s);
    srunner_set_fork_status(sr, CK_NOFORK);
    srunner_run_all(sr, CK_NORMAL);
    failed = srunner_ntests_failed(sr);
    ran = srunner_ntests_run(sr);
    srunner_free(sr);
    return failed == 0 && ran > 0 ? 0 : 1;
}
