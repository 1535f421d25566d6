/*
 * The daemon harness (daemon.h). Everything here is set up once per
 * fuzzing process; each input then costs one connection.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <poll.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include "daemon.h"
#include "log.h"
#include "wire.h"

/* main.c, compiled with its main() renamed (tests/fuzz/CMakeLists.txt). */
int custodiand_main(int argc, char **argv);

const char *const fuzzd_keys[FUZZD_KEYS] = {"p256", "p384", "ed", "rsa",
                                            "login"};

/* How long an answer may take: the daemon answers a request the token
 * is slow with within limits.request_timeout (10 s). */
#define FUZZD_ANSWER_SECONDS 30

static char fuzzd_dir[256];
static char fuzzd_conf[300];
static char fuzzd_paths[3][300]; /* by enum fuzzd_socket */
static volatile int fuzzd_stopped;
static pthread_t fuzzd_thread;

static void
fuzzd_die(const char *what)
{
    fprintf(stderr, "fuzz daemon harness: %s (%s)\n", what, strerror(errno));
    abort();
}

static void
fuzzd_write_file(const char *path, mode_t mode, const char *text)
{
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode);
    size_t len = strlen(text);

    if (fd < 0 || write(fd, text, len) != (ssize_t)len || close(fd) != 0)
        fuzzd_die(path);
}

static void
fuzzd_token(void)
{
    char path[320], text[600];

    snprintf(path, sizeof(path), "%s/tokens", fuzzd_dir);
    if (mkdir(path, 0700) != 0)
        fuzzd_die(path);
    snprintf(text, sizeof(text),
             "directories.tokendir = %s\nobjectstore.backend = file\n"
             "log.level = ERROR\n",
             path);
    snprintf(path, sizeof(path), "%s/softhsm2.conf", fuzzd_dir);
    fuzzd_write_file(path, 0600, text);
    setenv("SOFTHSM2_CONF", path, 1);
    snprintf(path, sizeof(path), "%s/pin", fuzzd_dir);
    fuzzd_write_file(path, 0600, "1234\n");
    if (system("softhsm2-util --init-token --free --label fuzz --pin 1234 "
               "--so-pin 5678 >/dev/null") != 0)
        fuzzd_die("softhsm2-util --init-token failed");
}

/* Grants of several shapes, so that decisions go every way. */
static void
fuzzd_config(void)
{
    char text[4096], user[32] = "";
    const char *d = fuzzd_dir;
    long uid = (long)geteuid();

    if (uid == 0)
        snprintf(user, sizeof(user), "user = \"root\";\n");
    snprintf(
        text, sizeof(text),
        "%s"
        "tokens = ( { name = \"hsm\";\n"
        "  module = \"/usr/lib/softhsm/libsofthsm2.so\";\n"
        "  uri = \"pkcs11:token=fuzz\"; pin_file = \"%s/pin\"; } );\n"
        "keys = ( { name = \"p256\"; type = \"ecdsa-p256\"; },\n"
        "  { name = \"p384\"; type = \"ecdsa-p384\"; },\n"
        "  { name = \"ed\"; type = \"ed25519\"; namespaces = [ \"git\" ]; },\n"
        "  { name = \"rsa\"; type = \"rsa-2048\"; },\n"
        "  { name = \"login\"; type = \"ecdsa-p256\"; } );\n"
        "listeners = { sign = { path = \"%s\"; mode = \"0600\"; };\n"
        "  admin = { path = \"%s\"; mode = \"0600\"; };\n"
        "  agent = { path = \"%s\"; mode = \"0600\"; }; };\n"
        "admins = ( { name = \"ops\"; match = { uid = %ld; }; } );\n"
        "identities = ( { name = \"fuzzer\"; match = { uid = %ld; };\n"
        "  grants = (\n"
        "    { keys = [ \"p256\", \"ed\" ]; namespaces = [ \"file\", \"git\" "
        "]; "
        "},\n"
        "    { keys = \"p384\"; operations = [ \"sign\", \"pubkey\" ];\n"
        "      digests = [ \"sha384\", \"sha512\" ];\n"
        "      rate = \"100000/s\"; burst = 1000; },\n"
        "    { keys = \"rsa\"; schemes = [ \"rsa-pss\", \"rsa-pkcs1\" ]; },\n"
        "    { keys = \"login\"; operations = [ \"list\", \"ssh-auth\" ]; } "
        "); } );\n"
        "audit = { path = \"%s/audit.log\"; };\n"
        "state = \"%s/keys.state\";\n"
        "keyring = \"%s/keyring\";\n"
        "limits = { workers = 2; };\n",
        user, d, fuzzd_paths[FUZZD_SIGN], fuzzd_paths[FUZZD_ADMIN],
        fuzzd_paths[FUZZD_AGENT], uid, uid, d, d, d);
    snprintf(fuzzd_conf, sizeof(fuzzd_conf), "%s/custodiand.conf", d);
    fuzzd_write_file(fuzzd_conf, 0600, text);
}

static void *
fuzzd_run(void *arg)
{
    static char name[] = "custodiand", opt[] = "-c";
    char *argv[] = {name, opt, fuzzd_conf, NULL};

    (void)arg;
    custodiand_main(3, argv);
    fuzzd_stopped = 1;
    return NULL;
}

static int
fuzzd_connect(enum fuzzd_socket s)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);

    if (fd < 0)
        fuzzd_die("socket");
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", fuzzd_paths[s]);
    if (connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        return -1;
    }
    return fd;
}

static void
fuzzd_wait_serving(void)
{
    int i, fd;

    for (i = 0; i < 600; i++) {
        if (fuzzd_stopped)
            fuzzd_die("custodiand stopped at start (its log says why)");
        if ((fd = fuzzd_connect(FUZZD_ADMIN)) >= 0) {
            close(fd);
            return;
        }
        usleep(50 * 1000);
    }
    fuzzd_die("custodiand did not start serving in 30 s");
}

static void
fuzzd_created(void *arg, uint8_t type, const uint8_t *body, size_t len)
{
    size_t *n = arg;

    (void)body;
    (void)len;
    if (type != (*n == 0 ? WIRE_HELLO_OK : WIRE_PUBKEY_OK))
        fuzzd_die("key creation refused");
    (*n)++;
}

/* One version of every key, made by the admin socket as an operator
 * would. */
static void
fuzzd_create_keys(void)
{
    struct wire_hello h = {.version = WIRE_VERSION, .name = "fuzz"};
    struct buf b;
    size_t i, n = 0;

    buf_init(&b, WIRE_FRAME_MAX);
    wire_put_hello(&b, WIRE_HELLO, &h);
    for (i = 0; i < FUZZD_KEYS; i++)
        wire_put_key_create(&b, fuzzd_keys[i]);
    if (buf_status(&b) != 0 ||
        fuzzd_exchange(FUZZD_ADMIN, b.data, b.len, fuzzd_created, &n) !=
            FUZZD_KEYS + 1)
        fuzzd_die("key creation: answers missing");
    buf_free(&b);
}

static int
fuzzd_remove(const char *path, const struct stat *st, int flag, struct FTW *f)
{
    (void)st;
    (void)flag;
    (void)f;
    remove(path);
    return 0;
}

/*
 * Stops the daemon as SIGTERM does, before the libraries' own exit
 * handlers free what its threads still use. Registered once it serves,
 * so that it runs before those (registered earlier) run.
 */
static void
fuzzd_stop(void)
{
    int i;

    if (fuzzd_stopped)
        return;
    kill(getpid(), SIGTERM);
    for (i = 0; i < 300 && !fuzzd_stopped; i++)
        usleep(50 * 1000);
    if (fuzzd_stopped)
        pthread_join(fuzzd_thread, NULL);
    else
        fprintf(stderr, "fuzz daemon harness: custodiand did not stop\n");
}

static void
fuzzd_cleanup(void)
{
    nftw(fuzzd_dir, fuzzd_remove, 16, FTW_DEPTH | FTW_PHYS);
}

void
fuzzd_start(void)
{
    const char *tmp = getenv("TMPDIR");
    static const char *const names[] = {"sign.sock", "admin.sock",
                                        "agent.sock"};
    int i;

    snprintf(fuzzd_dir, sizeof(fuzzd_dir), "%s/custodian-fuzz.XXXXXX",
             tmp != NULL && tmp[0] != '\0' ? tmp : "/tmp");
    if (mkdtemp(fuzzd_dir) == NULL)
        fuzzd_die(fuzzd_dir);
    atexit(fuzzd_cleanup);
    for (i = 0; i < 3; i++)
        snprintf(fuzzd_paths[i], sizeof(fuzzd_paths[i]), "%s/%s", fuzzd_dir,
                 names[i]);
    fuzzd_token();
    fuzzd_config();
    if (pthread_create(&fuzzd_thread, NULL, fuzzd_run, NULL) != 0)
        fuzzd_die("pthread_create");
    fuzzd_wait_serving();
    atexit(fuzzd_stop);
    fuzzd_create_keys();
    /* The daemon logs every refused connection: noise, thousands of
     * times a second, unless asked for. */
    if (getenv("CUSTODIAN_FUZZ_VERBOSE") == NULL)
        log_threshold = LOG_LEVEL_ERROR;
}

/* Answers the daemon owes for DATA: one per whole frame, and one for a
 * length out of range, after which it reads no more. */
static size_t
fuzzd_frames(const uint8_t *data, size_t len)
{
    size_t n = 0, frame = 0;
    int rc;

    while ((rc = wire_frame_check(data, len, &frame)) == 0) {
        n++;
        data += frame;
        len -= frame;
    }
    return rc < 0 ? n + 1 : n;
}

struct fuzzd_reader {
    uint8_t *data;
    size_t len, cap;
    size_t answers;
};

/* Hands every whole answer frame in R to FN. */
static void
fuzzd_take(struct fuzzd_reader *r, fuzzd_answer_fn fn, void *arg)
{
    size_t off = 0, frame;
    uint32_t n;

    while (r->len - off >= WIRE_HEADER) {
        n = (uint32_t)r->data[off] << 24 | (uint32_t)r->data[off + 1] << 16 |
            (uint32_t)r->data[off + 2] << 8 | r->data[off + 3];
        if (n == 0 || n > WIRE_FRAME_MAX) {
            fprintf(stderr, "daemon sent a frame of length %u\n", n);
            abort();
        }
        frame = WIRE_HEADER + n;
        if (r->len - off < frame)
            break;
        fn(arg, r->data[off + WIRE_HEADER], r->data + off + WIRE_HEADER + 1,
           n - 1);
        r->answers++;
        off += frame;
    }
    memmove(r->data, r->data + off, r->len - off);
    r->len -= off;
}

/* Reads what is there; returns 0 at the end of the stream. */
static int
fuzzd_read(int fd, struct fuzzd_reader *r)
{
    ssize_t got;

    if (r->cap - r->len < 65536) {
        r->cap = r->cap * 2 + 65536;
        if ((r->data = realloc(r->data, r->cap)) == NULL)
            fuzzd_die("realloc");
    }
    got = read(fd, r->data + r->len, r->cap - r->len);
    if (got < 0)
        return errno == EAGAIN || errno == EINTR ? 1 : 0;
    r->len += (size_t)got;
    return got > 0;
}

size_t
fuzzd_exchange(enum fuzzd_socket s, const uint8_t *data, size_t len,
               fuzzd_answer_fn fn, void *arg)
{
    size_t owed = fuzzd_frames(data, len), sent = 0;
    struct fuzzd_reader r = {0};
    time_t deadline = time(NULL) + FUZZD_ANSWER_SECONDS;
    struct pollfd p;
    ssize_t n;
    int fd = fuzzd_connect(s), alive = 1;

    if (fd < 0)
        fuzzd_die(fuzzd_stopped ? "custodiand has stopped" : "connect");
    fcntl(fd, F_SETFL, O_NONBLOCK);
    /* Write and read at once: the daemon stops reading from a client
     * that leaves its answers unread. */
    while (alive && (r.answers < owed || sent < len)) {
        p = (struct pollfd){.fd = fd, .events = POLLIN};
        if (sent < len)
            p.events |= POLLOUT;
        if (time(NULL) > deadline) {
            fprintf(stderr, "daemon answered %zu of %zu frames in %d s\n",
                    r.answers, owed, FUZZD_ANSWER_SECONDS);
            abort();
        }
        if (poll(&p, 1, 1000) <= 0)
            continue;
        if (p.revents & POLLOUT) {
            n = send(fd, data + sent, len - sent, MSG_NOSIGNAL);
            if (n > 0)
                sent += (size_t)n;
            else if (errno != EAGAIN && errno != EINTR)
                sent = len; /* the daemon closed: read what it said */
        }
        if (p.revents & (POLLIN | POLLHUP | POLLERR)) {
            alive = fuzzd_read(fd, &r);
            fuzzd_take(&r, fn, arg);
        }
    }
    close(fd);
    free(r.data);
    return r.answers;
}
