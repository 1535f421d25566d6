/*
 * Unit tests of peer: the /proc parsers on crafted input, and caller
 * identity against real processes on real sockets. A child reports what
 * it sees of itself through a pipe, by means independent of peer.c, and
 * the test compares that with what peer_identify() read. Tests that need
 * root (changing uid, groups, cgroup, forcing a pid) pass without
 * checking anything when not run as root.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <openssl/evp.h>

#include "custodian/error.h"
#include "peer.h"
#include "check_main.h"

#define SLEEP_BIN "/usr/bin/sleep"

/* A private directory with a listening socket, made for each test. */
static char tmpdir[256];
static char sockpath[300];
static int listener = -1;

/* What a child process says about itself. */
struct view {
    pid_t pid;
    uid_t uid;
    gid_t gid;
    int ngroups;
    gid_t groups[PEER_GROUPS_MAX + 8];
    unsigned long long start;
    char exe[PATH_MAX];
    char cgroup[PEER_CGROUP_MAX + 1];
};

/* A child: REPORT carries its view (EOF once it has exec'd), HOLD keeps
 * it waiting until the test writes a byte or closes it. */
struct kid {
    pid_t pid;
    int report;
    int hold;
};

typedef void (*kid_fn)(int report, int hold, void *arg);

static void
tmp_setup(void)
{
    const char *base = getenv("TMPDIR");
    struct sockaddr_un sa = {.sun_family = AF_UNIX};

    snprintf(tmpdir, sizeof(tmpdir), "%s/custodian-peer-XXXXXX",
             base != NULL && *base != '\0' ? base : "/tmp");
    ck_assert_ptr_nonnull(mkdtemp(tmpdir));
    snprintf(sockpath, sizeof(sockpath), "%s/sock", tmpdir);
    ck_assert_uint_lt(strlen(sockpath), sizeof(sa.sun_path));
    memcpy(sa.sun_path, sockpath, strlen(sockpath) + 1);

    listener = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(listener, 0);
    ck_assert_int_eq(bind(listener, (struct sockaddr *)&sa, sizeof(sa)), 0);
    ck_assert_int_eq(listen(listener, 16), 0);
    peer_force_pidfd_open(0);
}

static void
tmp_teardown(void)
{
    char path[400];

    close(listener);
    unlink(sockpath);
    snprintf(path, sizeof(path), "%s/prog", tmpdir);
    unlink(path);
    rmdir(tmpdir);
}

/* --- helpers that run in children: no check asserts there --- */

static void
own_cgroup(char *out, size_t max)
{
    FILE *f = fopen("/proc/self/cgroup", "re");
    char line[4096];

    out[0] = '\0';
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strncmp(line, "0::", 3) == 0) {
            line[strcspn(line, "\n")] = '\0';
            if (snprintf(out, max, "%s", line + 3) >= (int)max)
                out[0] = '\0';
        }
    }
    if (f != NULL)
        fclose(f);
}

/* Field 22 of /proc/self/stat, found another way than peer.c finds it. */
static unsigned long long
own_start(void)
{
    unsigned long long v = 0;
    char buf[2048], *p;
    int fd;
    ssize_t n;

    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    n = fd < 0 ? -1 : read(fd, buf, sizeof(buf) - 1);
    if (fd >= 0)
        close(fd);
    if (n <= 0)
        return 0;
    buf[n] = '\0';
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2,
                            "%*s %*s %*s %*s %*s %*s %*s %*s %*s %*s "
                            "%*s %*s %*s %*s %*s %*s %*s %*s %*s %llu",
                            &v) != 1)
        return 0;
    return v;
}

static void
own_view(struct view *v)
{
    memset(v, 0, sizeof(*v));
    v->pid = getpid();
    v->uid = geteuid();
    v->gid = getegid();
    v->ngroups = getgroups(PEER_GROUPS_MAX + 8, v->groups);
    v->start = own_start();
    if (realpath("/proc/self/exe", v->exe) == NULL)
        v->exe[0] = '\0';
    own_cgroup(v->cgroup, sizeof(v->cgroup));
}

static int
connect_listener(void)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int s;

    /* Not close-on-exec: children keep it across execve(). */
    s = socket(AF_UNIX, SOCK_STREAM, 0);
    memcpy(sa.sun_path, sockpath, strlen(sockpath) + 1);
    if (s < 0 || connect(s, (struct sockaddr *)&sa, sizeof(sa)) != 0)
        _exit(120);
    return s;
}

static void
write_all(int fd, const void *data, size_t len)
{
    if (write(fd, data, len) != (ssize_t)len)
        _exit(121);
}

static void
kid_wait(int hold)
{
    char c;

    while (read(hold, &c, 1) < 0 && errno == EINTR)
        ;
}

static void
kid_exec_sleep(const char *path, int report)
{
    char *const argv[] = {(char *)path, (char *)"60", NULL};
    int err;

    execv(path, argv);
    err = errno;
    write_all(report, &err, sizeof(err));
    _exit(127);
}

/* Connects, reports its view, waits. */
static void
kid_connect_report(int report, int hold, void *arg)
{
    struct view v;

    (void)arg;
    connect_listener();
    own_view(&v);
    write_all(report, &v, sizeof(v));
    kid_wait(hold);
}

/* Connects and executes the program ARG at once. */
static void
kid_connect_exec(int report, int hold, void *arg)
{
    (void)hold;
    connect_listener();
    kid_exec_sleep(arg, report);
}

/* Connects, says so, waits for a byte, then executes ARG. */
static void
kid_connect_wait_exec(int report, int hold, void *arg)
{
    connect_listener();
    write_all(report, "c", 1);
    kid_wait(hold);
    kid_exec_sleep(arg, report);
}

static void
kid_connect_exit(int report, int hold, void *arg)
{
    (void)report;
    (void)hold;
    (void)arg;
    connect_listener();
    _exit(0);
}

static void
drop_to_nobody(void)
{
    if (setgroups(0, NULL) != 0 || setgid(65534) != 0 || setuid(65534) != 0)
        _exit(122);
}

static void
kid_nobody_connect(int report, int hold, void *arg)
{
    drop_to_nobody();
    kid_connect_report(report, hold, arg);
}

/* Connects as root, then becomes nobody before reporting. */
static void
kid_connect_nobody(int report, int hold, void *arg)
{
    struct view v;

    (void)arg;
    connect_listener();
    drop_to_nobody();
    own_view(&v);
    write_all(report, &v, sizeof(v));
    kid_wait(hold);
}

/* Takes *(int *)ARG supplementary groups, then connects. */
static void
kid_groups_connect(int report, int hold, void *arg)
{
    gid_t groups[PEER_GROUPS_MAX + 8];
    int i, n = *(int *)arg;

    for (i = 0; i < n; i++)
        groups[i] = (gid_t)(20000 + i);
    if (setgroups((size_t)n, groups) != 0)
        _exit(123);
    kid_connect_report(report, hold, NULL);
}

/* Moves into the cgroup whose cgroup.procs is ARG, then connects. */
static void
kid_cgroup_connect(int report, int hold, void *arg)
{
    int fd = open(arg, O_WRONLY | O_CLOEXEC);

    if (fd < 0 || write(fd, "0\n", 2) != 2)
        _exit(124);
    close(fd);
    kid_connect_report(report, hold, NULL);
}

/* Makes a socketpair and hands one end to the test over ARG's socket. */
static void
kid_pass_socketpair(int report, int hold, void *arg)
{
    char cbuf[CMSG_SPACE(sizeof(int))] = {0};
    struct iovec iov = {.iov_base = (char *)"s", .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm = CMSG_FIRSTHDR(&msg);
    struct view v;
    int sv[2];

    if (socketpair(AF_UNIX, SOCK_STREAM, 0, sv) != 0)
        _exit(125);
    cm->cmsg_level = SOL_SOCKET;
    cm->cmsg_type = SCM_RIGHTS;
    cm->cmsg_len = CMSG_LEN(sizeof(int));
    memcpy(CMSG_DATA(cm), &sv[0], sizeof(int));
    if (sendmsg(*(int *)arg, &msg, 0) != 1)
        _exit(125);
    own_view(&v);
    write_all(report, &v, sizeof(v));
    kid_wait(hold);
}

/* --- helpers for the test process --- */

static void
write_last_pid(pid_t pid)
{
    FILE *f = fopen("/proc/sys/kernel/ns_last_pid", "we");

    ck_assert_ptr_nonnull(f);
    fprintf(f, "%d", (int)pid);
    ck_assert_int_eq(fclose(f), 0);
}

/* Starts FN in a child; with WANT > 0, asks the kernel for that pid. */
static struct kid
kid_start_at(pid_t want, kid_fn fn, void *arg)
{
    int rp[2], hp[2];
    struct kid k;

    ck_assert_int_eq(pipe2(rp, O_CLOEXEC), 0);
    ck_assert_int_eq(pipe2(hp, O_CLOEXEC), 0);
    if (want > 0)
        write_last_pid(want - 1);
    k.pid = fork();
    ck_assert_int_ge(k.pid, 0);
    if (k.pid == 0) {
        close(rp[0]);
        close(hp[1]);
        fn(rp[1], hp[0], arg);
        _exit(0);
    }
    close(rp[1]);
    close(hp[0]);
    k.report = rp[0];
    k.hold = hp[1];
    return k;
}

static struct kid
kid_start(kid_fn fn, void *arg)
{
    return kid_start_at(0, fn, arg);
}

static void
kid_finish(struct kid *k)
{
    close(k->hold);
    close(k->report);
    kill(k->pid, SIGKILL);
    waitpid(k->pid, NULL, 0);
}

static size_t
read_full(int fd, void *buf, size_t len)
{
    size_t got = 0;
    ssize_t n;

    while (got < len) {
        n = read(fd, (char *)buf + got, len - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            break;
        got += (size_t)n;
    }
    return got;
}

static void
read_view(const struct kid *k, struct view *v)
{
    ck_assert_uint_eq(read_full(k->report, v, sizeof(*v)), sizeof(*v));
}

/* Returns once the child has exec'd: its close-on-exec pipe closed. */
static void
wait_exec(const struct kid *k)
{
    int err = 0;

    ck_assert_msg(read_full(k->report, &err, sizeof(err)) == 0,
                  "child could not execute: %s", strerror(err));
}

static int
accept_one(void)
{
    struct pollfd pfd = {.fd = listener, .events = POLLIN};
    int c;

    ck_assert_int_eq(poll(&pfd, 1, 3000), 1);
    c = accept4(listener, NULL, NULL, SOCK_CLOEXEC);
    ck_assert_int_ge(c, 0);
    return c;
}

static void
assert_groups(const struct peer *p, const gid_t *groups, int n)
{
    int i;
    size_t j;

    ck_assert_int_ge(n, 0);
    ck_assert_uint_eq(p->ngroups, (size_t)n);
    for (i = 0; i < n; i++) {
        for (j = 0; j < p->ngroups && p->groups[j] != groups[i]; j++)
            ;
        ck_assert_msg(j < p->ngroups, "group %u missing", groups[i]);
    }
}

static void
assert_view(const struct peer *p, const struct view *v)
{
    ck_assert_int_eq(p->pid, v->pid);
    ck_assert_uint_eq(p->uid, v->uid);
    ck_assert_uint_eq(p->gid, v->gid);
    assert_groups(p, v->groups, v->ngroups);
    ck_assert_uint_ne(v->start, 0);
    ck_assert_uint_eq(p->start_time, v->start);
    ck_assert_str_ne(v->exe, "");
    ck_assert_str_eq(p->exe, v->exe);
    ck_assert_int_eq(p->exe_deleted, 0);
    ck_assert_str_eq(p->cgroup, v->cgroup);
    ck_assert_int_eq(p->pidfd, -1); /* released once it has done its work */
    ck_assert_int_ge(p->procfd, 0);
}

static void
assert_reason(const char *part)
{
    ck_assert_msg(strstr(peer_error(), part) != NULL,
                  "peer_error() is \"%s\", expected \"%s\" in it", peer_error(),
                  part);
}

/* Whether this kernel has SO_PEERPIDFD (6.5), asked without peer.c. */
static int
kernel_has_peerpidfd(void)
{
    socklen_t len = sizeof(int);
    int sv[2], fd = -1, ok;

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ok = getsockopt(sv[0], SOL_SOCKET, 77, &fd, &len) == 0;
    if (ok)
        close(fd);
    close(sv[0]);
    close(sv[1]);
    return ok;
}

static int
count_fds(void)
{
    char path[64];
    int fd, n = 0;

    for (fd = 0; fd < 1024; fd++) {
        snprintf(path, sizeof(path), "/proc/self/fd/%d", fd);
        if (access(path, F_OK) == 0)
            n++;
    }
    return n;
}

static void
sha256_file(const char *path, uint8_t out[32])
{
    unsigned char buf[65536];
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    FILE *f = fopen(path, "rbe");
    size_t n;

    ck_assert_ptr_nonnull(ctx);
    ck_assert_ptr_nonnull(f);
    ck_assert_int_eq(EVP_DigestInit_ex(ctx, EVP_sha256(), NULL), 1);
    while ((n = fread(buf, 1, sizeof(buf), f)) > 0)
        ck_assert_int_eq(EVP_DigestUpdate(ctx, buf, n), 1);
    ck_assert_int_eq(EVP_DigestFinal_ex(ctx, out, NULL), 1);
    fclose(f);
    EVP_MD_CTX_free(ctx);
}

/* Copies SRC to DST with mode 0755; DST is written in place if there. */
static void
copy_file(const char *src, const char *dst)
{
    unsigned char buf[65536];
    int in, out;
    ssize_t n;

    in = open(src, O_RDONLY | O_CLOEXEC);
    out = open(dst, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0755);
    ck_assert_int_ge(in, 0);
    ck_assert_int_ge(out, 0);
    while ((n = read(in, buf, sizeof(buf))) > 0)
        ck_assert_int_eq(write(out, buf, (size_t)n), n);
    close(in);
    close(out);
}

/* Waits until PATH's hash may be cached (see PEER_CACHE_SETTLE). */
static void
settle(const char *path)
{
    struct timespec now;
    struct stat st;

    ck_assert_int_eq(stat(path, &st), 0);
    for (;;) {
        ck_assert_int_eq(clock_gettime(CLOCK_REALTIME, &now), 0);
        if (st.st_ctim.tv_sec + PEER_CACHE_SETTLE < now.tv_sec)
            return;
        usleep(200000);
    }
}

static void
prog_path(char *out, size_t max)
{
    char real[PATH_MAX];

    ck_assert_ptr_nonnull(realpath(tmpdir, real));
    ck_assert_int_lt(snprintf(out, max, "%s/prog", real), (int)max);
}

/* Identifies a child that runs PROG. */
static struct kid
identify_prog(const char *prog, struct peer *p)
{
    struct kid k = kid_start(kid_connect_exec, (void *)prog);
    int c = accept_one();

    wait_exec(&k);
    ck_assert_int_eq(peer_identify(c, p), 0);
    close(c);
    return k;
}

static int
is_root(void)
{
    if (geteuid() == 0)
        return 1;
    fprintf(stderr, "not root: test passes without checking\n");
    return 0;
}

/* --- /proc/PID/stat --- */

/* Fields 3 to 52 of a real stat line; 22 (start time) is 987654. */
#define STAT_TAIL                                                              \
    " S 1 1234 1234 0 -1 4194560 1000 0 0 0 10 5 0 0 20 0 1 0 987654 "         \
    "10000000 300 18446744073709551615 1 1 0 0 0 0 65536 3670020 1266777851 "  \
    "0 0 0 17 0 0 0 0 0 0 0 0 0 0 0 0 0 0\n"

/* Parses S with no NUL after it, so an over-read shows under ASan. */
static int
parse_exact(const char *s, unsigned long long *out)
{
    size_t len = strlen(s);
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, s, len);
    rc = peer_parse_stat_starttime(copy, len, out);
    free(copy);
    return rc;
}

START_TEST(stat_plain)
{
    unsigned long long v = 0;

    ck_assert_int_eq(parse_exact("1234 (bash)" STAT_TAIL, &v), 0);
    ck_assert_uint_eq(v, 987654);
}
END_TEST

START_TEST(stat_name_with_spaces_and_parens)
{
    /* A name built to look like fields: only the last ')' ends it. */
    static const char *names[] = {
        "(a b)",
        "(x) S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21 22)",
        "())",
        "(()",
        "( ) ) )",
        "(a\nb) c)",
    };
    unsigned long long v;
    char line[512];
    size_t i;

    for (i = 0; i < sizeof(names) / sizeof(names[0]); i++) {
        snprintf(line, sizeof(line), "42 %s%s", names[i], STAT_TAIL);
        v = 0;
        ck_assert_int_eq(parse_exact(line, &v), 0);
        ck_assert_uint_eq(v, 987654);
    }
}
END_TEST

/* Fields 3 to 21, so that what follows is field 22. */
#define F3_21 " S 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 16 17 18"

START_TEST(stat_field_22_may_end_the_buffer)
{
    unsigned long long v = 0;

    ck_assert_int_eq(parse_exact("7 (t)" F3_21 " 4242", &v), 0);
    ck_assert_uint_eq(v, 4242);
    ck_assert_int_eq(parse_exact("7 (t)" F3_21 " 4243\n", &v), 0);
    ck_assert_uint_eq(v, 4243);
}
END_TEST

START_TEST(stat_malformed_refused)
{
    static const char *bad[] = {
        "",
        "1234",
        "1234 (bash" STAT_TAIL, /* no ')' */
        "1234 bash)" STAT_TAIL, /* no '(' */
        "1234 (bash)",          /* nothing after the name */
        "1234 (bash)S 1 1234",  /* no space after ')' */
        "1 (a)" F3_21,          /* 21 fields */
        "1 (a)" F3_21 " ",      /* an empty field 22 */
        "1 (a)" F3_21 "\n",     /* a line of 21 fields */
        "1 (a) S 1 2 3  5 6 7 8 9 10 11 12 13 14 15 16 17 18 19 20 21",
        "1 (a)" F3_21 " -5 0",                   /* negative */
        "1 (a)" F3_21 " +5 0",                   /* signed */
        "1 (a)" F3_21 " 12x 0",                  /* not a number */
        "1 (a)" F3_21 " 0x10 0",                 /* not decimal */
        "1 (a)" F3_21 " 18446744073709551616 0", /* ULLONG_MAX + 1 */
        "1 (a)" F3_21 " 99999999999999999999999 0",
    };
    unsigned long long v;
    size_t i;

    for (i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        v = 77;
        ck_assert_msg(parse_exact(bad[i], &v) == CUST_ERR_ARG,
                      "accepted \"%s\"", bad[i]);
        ck_assert_uint_eq(v, 77);
    }
}
END_TEST

START_TEST(stat_largest_value)
{
    unsigned long long v = 0;

    ck_assert_int_eq(parse_exact("1 (a)" F3_21 " 18446744073709551615 0", &v),
                     0);
    ck_assert(v == ULLONG_MAX);
}
END_TEST

START_TEST(stat_of_this_process)
{
    unsigned long long v = 0;
    char buf[2048];
    ssize_t n;
    int fd;

    fd = open("/proc/self/stat", O_RDONLY | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    n = read(fd, buf, sizeof(buf));
    close(fd);
    ck_assert_int_gt(n, 0);
    ck_assert_int_eq(peer_parse_stat_starttime(buf, (size_t)n, &v), 0);
    ck_assert_uint_eq(v, own_start());
}
END_TEST

/* --- /proc/PID/cgroup --- */

static int
cgroup_exact(const char *s, char *out, size_t max)
{
    size_t len = strlen(s);
    char *copy = malloc(len > 0 ? len : 1);
    int rc;

    ck_assert_ptr_nonnull(copy);
    memcpy(copy, s, len);
    rc = peer_parse_cgroup(copy, len, out, max);
    free(copy);
    return rc;
}

START_TEST(cgroup_unified)
{
    char out[PEER_CGROUP_MAX + 1];

    ck_assert_int_eq(cgroup_exact("0::/system.slice/gitlab-runner.service\n",
                                  out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "/system.slice/gitlab-runner.service");

    /* Hybrid: v1 lines first, some of them with "::" of their own. */
    ck_assert_int_eq(cgroup_exact("12:pids:/user.slice\n"
                                  "1:name=systemd:/init.scope\n"
                                  "10::/odd\n"
                                  "0::/a b/docker-1.scope\n",
                                  out, sizeof(out)),
                     0);
    ck_assert_str_eq(out, "/a b/docker-1.scope");

    ck_assert_int_eq(cgroup_exact("0::/\n", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/");
}
END_TEST

START_TEST(cgroup_v1_only)
{
    char out[16] = "x";

    ck_assert_int_eq(
        cgroup_exact("3:cpu:/a\n1:name=systemd:/b\n", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
    ck_assert_int_eq(cgroup_exact("", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "");
}
END_TEST

START_TEST(cgroup_malformed_or_long_refused)
{
    char out[8] = "x";

    ck_assert_int_eq(cgroup_exact("0::/abc", out, sizeof(out)), CUST_ERR_ARG);
    ck_assert_int_eq(cgroup_exact("0::\n", out, sizeof(out)), CUST_ERR_ARG);
    ck_assert_int_eq(cgroup_exact("0::abc\n", out, sizeof(out)), CUST_ERR_ARG);
    ck_assert_int_eq(cgroup_exact("1:cpu:/a", out, sizeof(out)), CUST_ERR_ARG);
    ck_assert_int_eq(cgroup_exact("0::/abcdefg\n", out, sizeof(out)),
                     CUST_ERR_TOO_BIG);
    ck_assert_str_eq(out, "x");
    ck_assert_int_eq(cgroup_exact("0::/abcdef\n", out, sizeof(out)), 0);
    ck_assert_str_eq(out, "/abcdef");
}
END_TEST

/* --- identify --- */

START_TEST(socketpair_names_its_creator)
{
    struct peer p;
    struct view v;
    int sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(peer_identify(sv[0], &p), 0);
    own_view(&v);
    assert_view(&p, &v);
    peer_release(&p);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(socketpair_passed_on_keeps_creator)
{
    char cbuf[CMSG_SPACE(sizeof(int))];
    char c;
    struct iovec iov = {.iov_base = &c, .iov_len = 1};
    struct msghdr msg = {.msg_iov = &iov,
                         .msg_iovlen = 1,
                         .msg_control = cbuf,
                         .msg_controllen = sizeof(cbuf)};
    struct cmsghdr *cm;
    struct peer p;
    struct view v;
    struct kid k;
    int carrier[2], fd;

    /* The child makes the pair; this process only receives one end. */
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, carrier), 0);
    k = kid_start(kid_pass_socketpair, &carrier[1]);
    ck_assert_int_eq(recvmsg(carrier[0], &msg, 0), 1);
    cm = CMSG_FIRSTHDR(&msg);
    ck_assert_ptr_nonnull(cm);
    memcpy(&fd, CMSG_DATA(cm), sizeof(int));
    read_view(&k, &v);

    ck_assert_int_eq(peer_identify(fd, &p), 0);
    ck_assert_int_eq(v.pid, k.pid);
    assert_view(&p, &v);
    peer_release(&p);
    close(fd);
    close(carrier[0]);
    close(carrier[1]);
    kid_finish(&k);
}
END_TEST

/* A child connects to the listening socket and is identified. */
static void
identify_connected_child(int force_pidfd_open)
{
    struct peer p;
    struct view v;
    struct kid k;
    int c;

    peer_force_pidfd_open(force_pidfd_open);
    k = kid_start(kid_connect_report, NULL);
    c = accept_one();
    read_view(&k, &v);

    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_int_eq(v.pid, k.pid);
    assert_view(&p, &v);
    ck_assert_int_eq(p.pidfd_from_socket,
                     !force_pidfd_open && kernel_has_peerpidfd());
    peer_release(&p);
    close(c);
    kid_finish(&k);
}

START_TEST(accepted_child)
{
    identify_connected_child(0);
}
END_TEST

START_TEST(accepted_child_pidfd_open)
{
    identify_connected_child(1);
}
END_TEST

START_TEST(exec_before_read_seen_as_new_program)
{
    char sleep_real[PATH_MAX];
    struct peer p;
    struct kid k;
    int c;

    ck_assert_ptr_nonnull(realpath(SLEEP_BIN, sleep_real));
    k = kid_start(kid_connect_exec, (void *)SLEEP_BIN);
    c = accept_one();
    wait_exec(&k);

    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_int_eq(p.pid, k.pid);
    ck_assert_str_eq(p.exe, sleep_real);
    ck_assert_int_eq(p.exe_deleted, 0);
    peer_release(&p);
    close(c);
    kid_finish(&k);
}
END_TEST

START_TEST(exec_after_read_keeps_identity_refuses_hash)
{
    uint8_t md[32];
    struct peer p;
    struct view self;
    struct kid k;
    char ack;
    int c;

    own_view(&self);
    k = kid_start(kid_connect_wait_exec, (void *)SLEEP_BIN);
    c = accept_one();
    ck_assert_uint_eq(read_full(k.report, &ack, 1), 1);
    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_str_eq(p.exe, self.exe);

    ck_assert_int_eq(write(k.hold, "g", 1), 1);
    wait_exec(&k);
    /* The identity is a record of the read; the hash must not describe
     * a program other than the one recorded. */
    ck_assert_str_eq(p.exe, self.exe);
    ck_assert_int_eq(peer_exe_sha256(&p, md), CUST_ERR_PEER);
    assert_reason("another program");
    peer_release(&p);
    close(c);
    kid_finish(&k);
}
END_TEST

/* Fills *P with a pattern so that a write to it can be seen. */
static void
peer_dirty(struct peer *p)
{
    memset(p, 0xa5, sizeof(*p));
}

static void
assert_untouched(const struct peer *p)
{
    struct peer dirty;

    peer_dirty(&dirty);
    ck_assert_mem_eq(p, &dirty, sizeof(dirty));
}

static void
exited_child_refused(int force_pidfd_open)
{
    siginfo_t si;
    struct peer p;
    struct kid k;
    int c;

    peer_force_pidfd_open(force_pidfd_open);
    k = kid_start(kid_connect_exit, NULL);
    c = accept_one();

    /* A zombie still holds its pid and parts of /proc/PID. */
    ck_assert_int_eq(waitid(P_PID, (id_t)k.pid, &si, WEXITED | WNOWAIT), 0);
    peer_dirty(&p);
    ck_assert_int_eq(peer_identify(c, &p), CUST_ERR_PEER);
    assert_untouched(&p);
    assert_reason("exited");

    ck_assert_int_eq(waitpid(k.pid, NULL, 0), k.pid);
    ck_assert_int_eq(peer_identify(c, &p), CUST_ERR_PEER);
    assert_untouched(&p);
    close(c);
    close(k.report);
    close(k.hold);
}

START_TEST(exited_child)
{
    exited_child_refused(0);
}
END_TEST

START_TEST(exited_child_pidfd_open)
{
    exited_child_refused(1);
}
END_TEST

START_TEST(not_a_connected_unix_socket)
{
    struct peer p;
    int pfd[2], s;

    peer_dirty(&p);
    ck_assert_int_eq(pipe(pfd), 0);
    ck_assert_int_eq(peer_identify(pfd[0], &p), CUST_ERR_ARG);
    close(pfd[0]);
    close(pfd[1]);

    s = socket(AF_INET, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(peer_identify(s, &p), CUST_ERR_ARG);
    close(s);

    s = socket(AF_UNIX, SOCK_STREAM, 0);
    ck_assert_int_ge(s, 0);
    ck_assert_int_eq(peer_identify(s, &p), CUST_ERR_PEER);
    close(s);
    assert_untouched(&p);
}
END_TEST

START_TEST(no_descriptor_leaks)
{
    struct peer p;
    int before, i, sv[2];

    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    before = count_fds();
    for (i = 0; i < 20; i++) {
        ck_assert_int_eq(peer_identify(sv[0], &p), 0);
        ck_assert_int_eq(count_fds(), before + 1); /* /proc/PID alone */
        peer_release(&p);
        peer_release(&p);
    }
    peer_release(NULL);
    ck_assert_int_eq(count_fds(), before);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

START_TEST(deleted_executable)
{
    uint8_t want[32], got[32];
    char prog[PATH_MAX];
    struct peer p;
    struct kid k;
    int c;

    prog_path(prog, sizeof(prog));
    copy_file(SLEEP_BIN, prog);
    sha256_file(prog, want);
    k = kid_start(kid_connect_exec, prog);
    c = accept_one();
    wait_exec(&k);
    ck_assert_int_eq(unlink(prog), 0);

    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_str_eq(p.exe, prog);
    ck_assert_int_eq(p.exe_deleted, 1);
    /* The deleted file is still there to hash through /proc/PID/exe. */
    ck_assert_int_eq(peer_exe_sha256(&p, got), 0);
    ck_assert_mem_eq(got, want, 32);
    peer_release(&p);
    close(c);
    kid_finish(&k);
}
END_TEST

/* --- as root --- */

START_TEST(nobody_before_connect)
{
    struct peer p;
    struct view v;
    struct kid k;
    int c;

    if (!is_root())
        return;
    /* nobody must reach the socket. */
    ck_assert_int_eq(chmod(tmpdir, 0755), 0);
    ck_assert_int_eq(chmod(sockpath, 0777), 0);
    k = kid_start(kid_nobody_connect, NULL);
    c = accept_one();
    read_view(&k, &v);

    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_uint_eq(p.uid, 65534);
    ck_assert_uint_eq(p.gid, 65534);
    ck_assert_uint_eq(p.ngroups, 0);
    assert_view(&p, &v);
    peer_release(&p);
    close(c);
    kid_finish(&k);
}
END_TEST

START_TEST(uid_is_the_one_at_connect)
{
    struct peer p;
    struct view v;
    struct kid k;
    int c;

    if (!is_root())
        return;
    k = kid_start(kid_connect_nobody, NULL);
    c = accept_one();
    read_view(&k, &v);
    ck_assert_uint_eq(v.uid, 65534);

    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_int_eq(p.pid, k.pid);
    ck_assert_uint_eq(p.uid, 0);
    ck_assert_uint_eq(p.gid, 0);
    peer_release(&p);
    close(c);
    kid_finish(&k);
}
END_TEST

static int
identify_with_groups(int n, struct peer *p)
{
    struct view v;
    struct kid k;
    int c, rc;

    k = kid_start(kid_groups_connect, &n);
    c = accept_one();
    read_view(&k, &v);
    ck_assert_int_eq(v.ngroups, n);

    rc = peer_identify(c, p);
    if (rc == 0)
        assert_view(p, &v);
    close(c);
    kid_finish(&k);
    return rc;
}

START_TEST(groups_up_to_the_limit)
{
    struct peer p;

    if (!is_root())
        return;
    ck_assert_int_eq(identify_with_groups(PEER_GROUPS_MAX, &p), 0);
    ck_assert_uint_eq(p.groups[PEER_GROUPS_MAX - 1], 20000 + 63);
    peer_release(&p);
    ck_assert_int_eq(identify_with_groups(PEER_GROUPS_MAX + 1, &p),
                     CUST_ERR_PEER);
    assert_reason("more than 64 supplementary groups");
}
END_TEST

/* The cgroup2 mount point, from /proc/self/mountinfo; "" if none. */
static void
cgroup2_mount(char *out, size_t max)
{
    FILE *f = fopen("/proc/self/mountinfo", "re");
    char line[4096], root[1024], point[1024];

    out[0] = '\0';
    while (f != NULL && fgets(line, sizeof(line), f) != NULL) {
        if (strstr(line, " - cgroup2 ") == NULL)
            continue;
        if (sscanf(line, "%*s %*s %*s %1023s %1023s", root, point) == 2 &&
            strcmp(root, "/") == 0)
            snprintf(out, max, "%s", point);
    }
    if (f != NULL)
        fclose(f);
}

START_TEST(cgroup_of_a_moved_child)
{
    char mnt[1024], own[PEER_CGROUP_MAX + 1], name[64];
    char dir[3072], procs[3200], want[PEER_CGROUP_MAX + 64];
    struct peer p;
    struct view v;
    struct kid k;
    int c, i;

    if (!is_root())
        return;
    cgroup2_mount(mnt, sizeof(mnt));
    own_cgroup(own, sizeof(own));
    snprintf(name, sizeof(name), "custodian-peer-%d", (int)getpid());
    ck_assert_int_lt(snprintf(want, sizeof(want), "%s/%s",
                              strcmp(own, "/") != 0 ? own : "", name),
                     (int)sizeof(want));
    ck_assert_int_lt(snprintf(dir, sizeof(dir), "%s%s", mnt, want),
                     (int)sizeof(dir));
    if (mnt[0] == '\0' || mkdir(dir, 0755) != 0) {
        fprintf(stderr, "no writable cgroup2 hierarchy: not checked\n");
        return;
    }
    snprintf(procs, sizeof(procs), "%s/cgroup.procs", dir);

    k = kid_start(kid_cgroup_connect, procs);
    c = accept_one();
    read_view(&k, &v);
    ck_assert_str_eq(v.cgroup, want);
    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_str_eq(p.cgroup, want);
    peer_release(&p);
    close(c);
    kid_finish(&k);
    for (i = 0; i < 100 && rmdir(dir) != 0 && errno == EBUSY; i++)
        usleep(10000);
}
END_TEST

/*
 * Makes the kernel give a caller's pid to a new process after the caller
 * connected and exited, which is what the guard is for.
 */
START_TEST(pid_reused_after_connect)
{
    struct peer p;
    struct view v;
    struct kid a, b;
    int attempt, c, rc;

    if (!is_root() || access("/proc/sys/kernel/ns_last_pid", W_OK) != 0)
        return;
    for (attempt = 0; attempt < 20; attempt++) {
        a = kid_start(kid_connect_exit, NULL);
        c = accept_one();
        ck_assert_int_eq(waitpid(a.pid, NULL, 0), a.pid);
        close(a.report);
        close(a.hold);
        b = kid_start_at(a.pid, kid_connect_report, NULL);
        read_view(&b, &v);
        close(accept_one());
        if (b.pid == a.pid)
            break;
        close(c);
        kid_finish(&b);
    }
    ck_assert_int_eq(b.pid, a.pid);

    /* SO_PEERPIDFD names the process that connected: refused. */
    peer_force_pidfd_open(0);
    rc = peer_identify(c, &p);
    if (kernel_has_peerpidfd())
        ck_assert_int_eq(rc, CUST_ERR_PEER);

    /* pidfd_open() names whoever holds the pid now: this is the window
     * that remains without SO_PEERPIDFD, reported as the newcomer. */
    peer_force_pidfd_open(1);
    ck_assert_int_eq(peer_identify(c, &p), 0);
    ck_assert_int_eq(p.pid, b.pid);
    ck_assert_uint_eq(p.start_time, v.start);
    peer_release(&p);
    close(c);
    kid_finish(&b);
}
END_TEST

/* --- executable hash --- */

START_TEST(hash_matches_file_and_is_cached)
{
    struct peer_cache_stats s0, s1, s2;
    uint8_t want[32], got[32], again[32];
    struct view self;
    struct peer p;
    int sv[2];

    own_view(&self);
    settle(self.exe);
    sha256_file(self.exe, want);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    ck_assert_int_eq(peer_identify(sv[0], &p), 0);

    peer_cache_stats(&s0);
    ck_assert_int_eq(peer_exe_sha256(&p, got), 0);
    ck_assert_mem_eq(got, want, 32);
    peer_cache_stats(&s1);
    ck_assert_uint_eq(s1.misses, s0.misses + 1);
    ck_assert_uint_eq(s1.hits, s0.hits);

    ck_assert_int_eq(peer_exe_sha256(&p, again), 0);
    ck_assert_mem_eq(again, want, 32);
    peer_cache_stats(&s2);
    ck_assert_uint_eq(s2.hits, s1.hits + 1);
    ck_assert_uint_eq(s2.misses, s1.misses);
    ck_assert_uint_ge(s2.entries, 1);

    /* Released: /proc/PID is opened again and the start time checked. */
    peer_release(&p);
    memset(again, 0, sizeof(again));
    ck_assert_int_eq(peer_exe_sha256(&p, again), 0);
    ck_assert_mem_eq(again, want, 32);
    close(sv[0]);
    close(sv[1]);
}
END_TEST

/* Hashes the program of a fresh child running PROG; checks hit or miss. */
static void
hash_prog(const char *prog, int expect_hit, uint8_t out[32])
{
    struct peer_cache_stats s0, s1;
    uint8_t want[32];
    struct peer p;
    struct kid k;

    sha256_file(prog, want);
    k = identify_prog(prog, &p);
    peer_cache_stats(&s0);
    ck_assert_int_eq(peer_exe_sha256(&p, out), 0);
    peer_cache_stats(&s1);
    ck_assert_mem_eq(out, want, 32);
    ck_assert_uint_eq(s1.hits, s0.hits + (expect_hit ? 1 : 0));
    ck_assert_uint_eq(s1.misses, s0.misses + (expect_hit ? 0 : 1));
    peer_release(&p);
    kid_finish(&k);
}

/* Flips the last byte of PATH in place and sets its mtime back. */
static void
rewrite_same_size(const char *path)
{
    struct timespec times[2];
    struct stat st;
    unsigned char c;
    int fd;

    ck_assert_int_eq(stat(path, &st), 0);
    fd = open(path, O_RDWR | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(pread(fd, &c, 1, st.st_size - 1), 1);
    c ^= 0xff;
    ck_assert_int_eq(pwrite(fd, &c, 1, st.st_size - 1), 1);
    close(fd);
    times[0] = st.st_atim;
    times[1] = st.st_mtim;
    ck_assert_int_eq(utimensat(AT_FDCWD, path, times, 0), 0);
}

START_TEST(hash_of_changed_file_misses)
{
    uint8_t first[32], second[32], third[32], again[32];
    char prog[PATH_MAX];
    int fd;

    prog_path(prog, sizeof(prog));
    copy_file(SLEEP_BIN, prog);
    settle(prog);
    hash_prog(prog, 0, first);
    hash_prog(prog, 1, again);
    ck_assert_mem_eq(again, first, 32);

    /* Same size, same mtime: only the ctime tells, and it must. */
    rewrite_same_size(prog);
    hash_prog(prog, 0, second);
    ck_assert_mem_ne(second, first, 32);

    /* Changed moments ago: hashed every time until it has settled. */
    hash_prog(prog, 0, again);
    ck_assert_mem_eq(again, second, 32);

    fd = open(prog, O_WRONLY | O_APPEND | O_CLOEXEC);
    ck_assert_int_ge(fd, 0);
    ck_assert_int_eq(write(fd, "A", 1), 1);
    close(fd);
    hash_prog(prog, 0, third);
    ck_assert_mem_ne(third, second, 32);
}
END_TEST

START_TEST(hash_of_synthetic_refused)
{
    uint8_t md[32];
    struct peer p;

    ck_assert_int_eq(peer_from_values(&p, getpid(), 0, 0, "/bin/x", "/"), 0);
    ck_assert_int_eq(peer_exe_sha256(&p, md), CUST_ERR_PEER);
    assert_reason("synthetic");
    peer_release(&p);
}
END_TEST

/* --- synthetic callers --- */

START_TEST(from_values)
{
    struct peer p;

    peer_dirty(&p);
    ck_assert_int_eq(peer_from_values(&p, 1234, 1000, 1001, "/usr/bin/git",
                                      "/system.slice/ci.service"),
                     0);
    ck_assert_int_eq(p.pid, 1234);
    ck_assert_uint_eq(p.uid, 1000);
    ck_assert_uint_eq(p.gid, 1001);
    ck_assert_uint_eq(p.ngroups, 0);
    ck_assert_str_eq(p.exe, "/usr/bin/git");
    ck_assert_int_eq(p.exe_deleted, 0);
    ck_assert_str_eq(p.cgroup, "/system.slice/ci.service");
    ck_assert_uint_eq(p.start_time, 0);
    ck_assert_int_eq(p.pidfd, -1);
    ck_assert_int_eq(p.procfd, -1);
    peer_release(&p);

    ck_assert_int_eq(peer_from_values(&p, 1, 2, 3, NULL, NULL), 0);
    ck_assert_str_eq(p.exe, "");
    ck_assert_str_eq(p.cgroup, "");
    peer_release(&p);
}
END_TEST

START_TEST(from_values_limits)
{
    char exe[PATH_MAX + 1], cg[PEER_CGROUP_MAX + 2];
    struct peer p;

    ck_assert_int_eq(peer_from_values(NULL, 1, 2, 3, "/x", "/"), CUST_ERR_ARG);

    memset(exe, 'e', sizeof(exe));
    exe[0] = '/';
    exe[PATH_MAX - 1] = '\0';
    ck_assert_int_eq(peer_from_values(&p, 1, 2, 3, exe, "/"), 0);
    ck_assert_uint_eq(strlen(p.exe), PATH_MAX - 1);
    peer_release(&p);
    exe[PATH_MAX - 1] = 'e';
    exe[PATH_MAX] = '\0';
    peer_dirty(&p);
    ck_assert_int_eq(peer_from_values(&p, 1, 2, 3, exe, "/"), CUST_ERR_TOO_BIG);
    assert_untouched(&p);

    memset(cg, 'c', sizeof(cg));
    cg[0] = '/';
    cg[PEER_CGROUP_MAX] = '\0';
    ck_assert_int_eq(peer_from_values(&p, 1, 2, 3, "/x", cg), 0);
    ck_assert_uint_eq(strlen(p.cgroup), PEER_CGROUP_MAX);
    peer_release(&p);
    cg[PEER_CGROUP_MAX] = 'c';
    cg[PEER_CGROUP_MAX + 1] = '\0';
    ck_assert_int_eq(peer_from_values(&p, 1, 2, 3, "/x", cg), CUST_ERR_TOO_BIG);
}
END_TEST

static Suite *
peer_suite(void)
{
    Suite *s = suite_create("peer");
    TCase *parse = tcase_create("parse");
    TCase *id = tcase_create("identify");
    TCase *root = tcase_create("root");
    TCase *hash = tcase_create("hash");
    TCase *values = tcase_create("values");

    tcase_add_test(parse, stat_plain);
    tcase_add_test(parse, stat_name_with_spaces_and_parens);
    tcase_add_test(parse, stat_field_22_may_end_the_buffer);
    tcase_add_test(parse, stat_malformed_refused);
    tcase_add_test(parse, stat_largest_value);
    tcase_add_test(parse, stat_of_this_process);
    tcase_add_test(parse, cgroup_unified);
    tcase_add_test(parse, cgroup_v1_only);
    tcase_add_test(parse, cgroup_malformed_or_long_refused);
    suite_add_tcase(s, parse);

    tcase_add_checked_fixture(id, tmp_setup, tmp_teardown);
    tcase_add_test(id, socketpair_names_its_creator);
    tcase_add_test(id, socketpair_passed_on_keeps_creator);
    tcase_add_test(id, accepted_child);
    tcase_add_test(id, accepted_child_pidfd_open);
    tcase_add_test(id, exec_before_read_seen_as_new_program);
    tcase_add_test(id, exec_after_read_keeps_identity_refuses_hash);
    tcase_add_test(id, exited_child);
    tcase_add_test(id, exited_child_pidfd_open);
    tcase_add_test(id, not_a_connected_unix_socket);
    tcase_add_test(id, no_descriptor_leaks);
    tcase_add_test(id, deleted_executable);
    suite_add_tcase(s, id);

    tcase_add_checked_fixture(root, tmp_setup, tmp_teardown);
    tcase_add_test(root, nobody_before_connect);
    tcase_add_test(root, uid_is_the_one_at_connect);
    tcase_add_test(root, groups_up_to_the_limit);
    tcase_add_test(root, cgroup_of_a_moved_child);
    tcase_add_test(root, pid_reused_after_connect);
    suite_add_tcase(s, root);

    /* Files must settle before they are cached: seconds of waiting. */
    tcase_set_timeout(hash, 30);
    tcase_add_checked_fixture(hash, tmp_setup, tmp_teardown);
    tcase_add_test(hash, hash_matches_file_and_is_cached);
    tcase_add_test(hash, hash_of_changed_file_misses);
    tcase_add_test(hash, hash_of_synthetic_refused);
    suite_add_tcase(s, hash);

    tcase_add_test(values, from_values);
    tcase_add_test(values, from_values_limits);
    suite_add_tcase(s, values);
    return s;
}

int
main(void)
{
    return check_run(peer_suite());
}
