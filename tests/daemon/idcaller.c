/*
 * A caller whose life identity.sh steers, to show whom custodiand takes
 * it for: it connects, says HELLO, signs, waits, forks and executes
 * other programs, step by step as its arguments say, carrying its
 * connection across execve() and fork().
 *
 * Usage: idcaller STEP...   with $IDCALLER_SOCKET the signing socket
 * Steps:
 *   connect     connect to the socket (the descriptor survives execve)
 *   hello       send HELLO; print "hello ok" or "hello CODE MESSAGE"
 *   sign        sign a fresh SHA-256 digest with the key "release";
 *               print "sign ok" or "sign CODE MESSAGE"
 *   hold        print "hold PID", then wait for a line on stdin
 *   fork        the parent prints "forked CHILD-PID" and exits; the
 *               child goes on with the next step
 *   exec PATH   execute PATH with the steps that follow
 * Exits 0 when every step could be carried out (a refusal included),
 * 1 when one could not.
 */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "custodian/error.h"
#include "wire.h"

/* The connection's descriptor, inherited across execve() by this name. */
#define IDCALLER_FD "IDCALLER_FD"

static int conn = -1;

static void
die(const char *what)
{
    fprintf(stderr, "idcaller: %s: %s\n", what, strerror(errno));
    exit(1);
}

static void
step_connect(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    const char *path = getenv("IDCALLER_SOCKET");
    char num[16];

    if (path == NULL)
        die("IDCALLER_SOCKET is not set");
    /* Not close-on-exec: the next program inherits the connection. */
    conn = socket(AF_UNIX, SOCK_STREAM, 0);
    snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", path);
    if (conn < 0 || connect(conn, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        die("connect");
    snprintf(num, sizeof(num), "%d", conn);
    setenv(IDCALLER_FD, num, 1);
}

/* Sends B. A daemon that refused the caller may have answered and
 * closed before it was sent: its answer is still there to read. */
static void
send_all(const struct buf *b)
{
    size_t off = 0;
    ssize_t n;

    while (off < b->len) {
        n = send(conn, b->data + off, b->len - off, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EPIPE || errno == ECONNRESET))
            return;
        if (n <= 0)
            die("send");
        off += (size_t)n;
    }
}

/* Reads one frame into IN; its type and body. */
static uint8_t
read_frame(struct buf *in, struct buf *body)
{
    uint8_t chunk[4096], type;
    size_t frame = 0;
    ssize_t n;

    while (wire_frame_check(in->data, in->len, &frame) != 0) {
        n = recv(conn, chunk, sizeof(chunk), 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            errno = n == 0 ? ECONNRESET : errno;
            die("recv");
        }
        if (buf_put(in, chunk, (size_t)n) != 0)
            die("answer too long");
    }
    wire_open(in->data, frame, &type, body);
    return type;
}

/* Sends the frame in OUT and prints STEP's outcome: "ok" when the
 * answer is of type OK, else the error's code and message. */
static void
exchange(const char *step, struct buf *out, uint8_t ok)
{
    struct wire_error e = {0};
    struct buf in, body;
    uint8_t type;

    buf_init(&in, WIRE_FRAME_MAX + WIRE_HEADER);
    send_all(out);
    type = read_frame(&in, &body);
    if (type == ok)
        printf("%s ok\n", step);
    else if (type == WIRE_ERROR && wire_get_error(&body, &e) == 0)
        printf("%s %d %s\n", step, e.code, e.message);
    else
        printf("%s unexpected answer %d\n", step, type);
    buf_free(&in);
}

static void
step_hello(void)
{
    struct wire_hello h = {.version = WIRE_VERSION, .name = "idcaller 1"};
    struct buf out;

    buf_init(&out, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_hello(&out, WIRE_HELLO, &h);
    exchange("hello", &out, WIRE_HELLO_OK);
    buf_free(&out);
}

static void
step_sign(void)
{
    struct wire_sign s = {.key = "release", .digest = "sha256"};
    uint8_t digest[32];
    struct buf out;
    size_t i;

    /* Any 32 bytes will do: the policy, not the signature, is tested. */
    for (i = 0; i < sizeof(digest); i++)
        digest[i] = (uint8_t)(getpid() + i);
    s.data = digest;
    s.datalen = sizeof(digest);
    buf_init(&out, WIRE_FRAME_MAX + WIRE_HEADER);
    wire_put_sign(&out, &s);
    exchange("sign", &out, WIRE_SIGNATURE);
    buf_free(&out);
}

static void
step_hold(void)
{
    char line[64];

    printf("hold %d\n", (int)getpid());
    if (fgets(line, sizeof(line), stdin) == NULL)
        exit(1);
}

static void
step_fork(void)
{
    pid_t child;
    int sync[2];
    char c;

    fflush(NULL);
    if (pipe(sync) != 0 || (child = fork()) < 0)
        die("fork");
    if (child > 0) {
        printf("forked %d\n", (int)child);
        exit(0); /* closes SYNC: the child goes on */
    }
    /* The parent's line comes first, then the child's. */
    close(sync[1]);
    while (read(sync[0], &c, 1) < 0 && errno == EINTR)
        ;
    close(sync[0]);
}

int
main(int argc, char **argv)
{
    const char *fd = getenv(IDCALLER_FD);
    int i;

    setvbuf(stdout, NULL, _IOLBF, 0);
    if (fd != NULL)
        conn = atoi(fd);
    for (i = 1; i < argc; i++) {
        if (strcmp(argv[i], "connect") == 0)
            step_connect();
        else if (strcmp(argv[i], "hello") == 0)
            step_hello();
        else if (strcmp(argv[i], "sign") == 0)
            step_sign();
        else if (strcmp(argv[i], "hold") == 0)
            step_hold();
        else if (strcmp(argv[i], "fork") == 0)
            step_fork();
        else if (strcmp(argv[i], "exec") == 0 && i + 1 < argc) {
            fflush(NULL);
            execv(argv[i + 1], argv + i + 1);
            die("execv");
        } else {
            fprintf(stderr, "idcaller: unknown step %s\n", argv[i]);
            return 1;
        }
    }
    return 0;
}
