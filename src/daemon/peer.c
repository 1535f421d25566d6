/*
 * Caller identity from the kernel and /proc.
 *
 * The pid-reuse guard. SO_PEERCRED gives the pid of the process that
 * called connect(), but a pid is only a number: that process may exit,
 * and the number be given to a new process, before we look at /proc. The
 * reads would then describe the newcomer (its executable, its cgroup)
 * under the uid of the caller. To prevent that:
 *
 * 1. A pidfd is taken first. From SO_PEERPIDFD (Linux 6.5 and later) it
 *    refers to the very process that connected; from pidfd_open(pid)
 *    (older kernels, where getsockopt() says ENOPROTOOPT) it refers to
 *    whichever process holds the pid at that moment.
 * 2. /proc/PID is opened once as a directory, and every file is read
 *    relative to it. That descriptor stays bound to the process it was
 *    opened for: once that process is gone, reads through it fail
 *    instead of reaching a successor with the same pid.
 * 3. After the reads, the pidfd's process must not have exited (a pidfd
 *    polls readable once it has), the start time must read as it did
 *    first, and /proc/PID/exe must still name the same file.
 *
 * A living process keeps its pid, so if the pidfd's process is alive at
 * the end it held the pid throughout, and the directory opened in
 * between was its own. With SO_PEERPIDFD that process is the caller, and
 * no window remains.
 *
 * Without SO_PEERPIDFD one window remains, from connect() to
 * pidfd_open(): the caller exits and a new process receives the same
 * pid. The kernel hands out pids in increasing order and wraps at
 * kernel.pid_max, so the pid comes back only after every other free pid
 * has been handed out: tens of thousands to millions of forks while the
 * connection waits in the listen queue and is accepted, which takes
 * microseconds to milliseconds. Even then the result is the new process
 * with the old caller's uid and groups, never another caller's uid.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <string.h>
#include <sys/pidfd.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <openssl/evp.h>

#include "custodian/error.h"
#include "peer.h"

/*
 * glibc 2.36 predates SO_PEERPIDFD (Linux 6.5). Its value is the same on
 * every architecture that uses the generic socket option numbers; the
 * others take the pidfd_open() path.
 */
#if !defined(SO_PEERPIDFD) && !defined(__alpha__) && !defined(__mips__) &&     \
    !defined(__hppa__) && !defined(__sparc__)
#define SO_PEERPIDFD 77
#endif

/* /proc/PID/stat is one line of 52 numeric fields and a short name. */
#define PEER_STAT_MAX 2048

/* /proc/PID/cgroup: one line on a unified system, a dozen on a hybrid. */
#define PEER_CGROUP_FILE_MAX 16384

#define PEER_CACHE_SIZE 256
#define PEER_HASH_CHUNK 16384

static const char peer_deleted[] = " (deleted)";

static _Thread_local char peer_reason[256] = "no error";

static atomic_int peer_no_peerpidfd;

static int
peer_fail(pid_t pid, const char *what, int err)
{
    if (err == ESRCH || err == ENOENT)
        snprintf(peer_reason, sizeof(peer_reason),
                 "pid %d: %s: process has exited", (int)pid, what);
    else if (err == EACCES || err == EPERM)
        snprintf(peer_reason, sizeof(peer_reason),
                 "pid %d: %s: %s (another user's process needs "
                 "CAP_SYS_PTRACE)",
                 (int)pid, what, strerror(err));
    else if (err != 0)
        snprintf(peer_reason, sizeof(peer_reason), "pid %d: %s: %s", (int)pid,
                 what, strerror(err));
    else
        snprintf(peer_reason, sizeof(peer_reason), "pid %d: %s", (int)pid,
                 what);
    return CUST_ERR_PEER;
}

static int
peer_fail_openssl(pid_t pid)
{
    peer_fail(pid, "SHA-256 failed in OpenSSL", 0);
    return CUST_ERR_INTERNAL;
}

const char *
peer_error(void)
{
    return peer_reason;
}

void
peer_force_pidfd_open(int on)
{
    atomic_store(&peer_no_peerpidfd, on != 0);
}

static void
peer_blank(struct peer *p)
{
    memset(p, 0, sizeof(*p));
    p->pidfd = -1;
    p->procfd = -1;
}

void
peer_release(struct peer *p)
{
    if (p == NULL)
        return;
    if (p->pidfd >= 0)
        close(p->pidfd);
    if (p->procfd >= 0)
        close(p->procfd);
    p->pidfd = -1;
    p->procfd = -1;
    free(p->exe);
    p->exe = NULL;
}

int
peer_parse_stat_starttime(const char *buf, size_t len, unsigned long long *out)
{
    unsigned long long v = 0;
    size_t pos = len, start = 0, field;
    unsigned d;

    while (pos > 0 && buf[pos - 1] != ')')
        pos--;
    if (pos == 0 || memchr(buf, '(', pos) == NULL)
        return CUST_ERR_ARG;

    /* Fields 3 to 22 follow the name, each after exactly one space. */
    for (field = 3; field <= 22; field++) {
        if (pos >= len || buf[pos] != ' ')
            return CUST_ERR_ARG;
        start = ++pos;
        while (pos < len && buf[pos] != ' ' && buf[pos] != '\n')
            pos++;
        if (pos == start)
            return CUST_ERR_ARG;
    }

    for (; start < pos; start++) {
        if (buf[start] < '0' || buf[start] > '9')
            return CUST_ERR_ARG;
        d = (unsigned)(buf[start] - '0');
        if (v > (ULLONG_MAX - d) / 10)
            return CUST_ERR_ARG;
        v = v * 10 + d;
    }
    *out = v;
    return 0;
}

int
peer_parse_cgroup(const char *buf, size_t len, char *out, size_t outmax)
{
    const char *nl, *path;
    size_t pos = 0, n;

    while (pos < len) {
        nl = memchr(buf + pos, '\n', len - pos);
        if (nl == NULL)
            return CUST_ERR_ARG;
        n = (size_t)(nl - (buf + pos));
        path = buf + pos + 3;
        /* Hierarchy 0 is the unified one; v1 hierarchies count from 1. */
        if (n >= 3 && memcmp(buf + pos, "0::", 3) == 0) {
            n -= 3;
            if (n == 0 || path[0] != '/' || memchr(path, '\0', n) != NULL)
                return CUST_ERR_ARG;
            if (n >= outmax)
                return CUST_ERR_TOO_BIG;
            memcpy(out, path, n);
            out[n] = '\0';
            return 0;
        }
        pos += n + 1;
    }
    if (outmax == 0)
        return CUST_ERR_TOO_BIG;
    out[0] = '\0';
    return 0;
}

/*
 * Reads the whole of NAME under DIR into BUF. A file that fills BUF is
 * refused: its end was not seen. Returns 0 or an errno value.
 */
static int
peer_read_at(int dir, const char *name, char *buf, size_t max, size_t *len)
{
    size_t got = 0;
    ssize_t n;
    int fd, err = 0;

    fd = openat(dir, name, O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return errno;
    while (got < max) {
        n = read(fd, buf + got, max - got);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0) {
            err = n < 0 ? errno : 0;
            break;
        }
        got += (size_t)n;
    }
    close(fd);

    if (err == 0 && got == max)
        err = EFBIG;
    *len = got;
    return err;
}

static int
peer_read_start(const struct peer *p, int dir, unsigned long long *out)
{
    char buf[PEER_STAT_MAX];
    size_t len = 0;
    int err;

    err = peer_read_at(dir, "stat", buf, sizeof(buf), &len);
    if (err != 0)
        return peer_fail(p->pid, "reading /proc/PID/stat", err);
    if (peer_parse_stat_starttime(buf, len, out) != 0)
        return peer_fail(p->pid, "malformed /proc/PID/stat", 0);
    return 0;
}

static int
peer_read_creds(int fd, struct peer *p)
{
    struct ucred cred;
    socklen_t len = sizeof(cred);
    int domain = 0;

    if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) {
        peer_fail(0, "SO_PEERCRED", errno);
        return CUST_ERR_ARG;
    }
    len = sizeof(domain);
    if (getsockopt(fd, SOL_SOCKET, SO_DOMAIN, &domain, &len) != 0 ||
        domain != AF_UNIX) {
        peer_fail(0, "not a Unix socket", 0);
        return CUST_ERR_ARG;
    }
    /* 0 for an unconnected socket, or a caller in a pid namespace that
     * is neither ours nor below it. */
    if (cred.pid <= 0)
        return peer_fail(0, "caller has no pid visible here", 0);
    p->pid = cred.pid;
    p->uid = cred.uid;
    p->gid = cred.gid;

    /* The groups of the same credentials that gave the uid, captured at
     * connect(); /proc/PID/status would show them as they are now. */
    len = sizeof(p->groups);
    if (getsockopt(fd, SOL_SOCKET, SO_PEERGROUPS, p->groups, &len) != 0) {
        if (errno == ERANGE)
            return peer_fail(p->pid, "more than 64 supplementary groups", 0);
        return peer_fail(p->pid, "SO_PEERGROUPS", errno);
    }
    p->ngroups = len / sizeof(gid_t);
    return 0;
}

/* Nonzero while the pidfd's process has not exited. */
static int
peer_alive(int pidfd)
{
    struct pollfd pfd = {.fd = pidfd, .events = POLLIN};
    int n;

    do {
        n = poll(&pfd, 1, 0);
    } while (n < 0 && errno == EINTR);
    return n == 0;
}

static int
peer_open_pidfd(int fd, struct peer *p)
{
#ifdef SO_PEERPIDFD
    socklen_t len = sizeof(int);
    int pidfd = -1;

    if (!atomic_load(&peer_no_peerpidfd)) {
        if (getsockopt(fd, SOL_SOCKET, SO_PEERPIDFD, &pidfd, &len) == 0) {
            p->pidfd = pidfd;
            p->pidfd_from_socket = 1;
            return 0;
        }
        if (errno != ENOPROTOOPT)
            return peer_fail(p->pid, "SO_PEERPIDFD", errno);
    }
#else
    (void)fd;
#endif
    /* XXX: a caller that exited and whose pid was reused before this
     * call is not detected; only SO_PEERPIDFD closes that window. */
    p->pidfd = pidfd_open(p->pid, 0);
    if (p->pidfd < 0)
        return peer_fail(p->pid, "pidfd_open", errno);
    return 0;
}

static int
peer_open_proc(const struct peer *p, int *out)
{
    char path[32];
    int dir;

    snprintf(path, sizeof(path), "/proc/%d", (int)p->pid);
    dir = open(path, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
    if (dir < 0)
        return peer_fail(p->pid, "opening /proc/PID", errno);
    *out = dir;
    return 0;
}

static int
peer_read_exe(struct peer *p)
{
    size_t cut = sizeof(peer_deleted) - 1;
    char exe[PATH_MAX];
    struct stat st;
    ssize_t n;

    /* Following the link reaches the file itself, even when deleted. */
    if (fstatat(p->procfd, "exe", &st, 0) != 0)
        return peer_fail(p->pid, "stat of /proc/PID/exe", errno);
    n = readlinkat(p->procfd, "exe", exe, sizeof(exe));
    if (n < 0)
        return peer_fail(p->pid, "reading /proc/PID/exe", errno);
    if ((size_t)n >= sizeof(exe))
        return peer_fail(p->pid, "executable path longer than PATH_MAX", 0);
    exe[n] = '\0';
    p->exe_dev = st.st_dev;
    p->exe_ino = st.st_ino;

    /* The kernel appends the suffix once the name was unlinked or
     * renamed over; a file really named so is reported the same way. */
    if ((size_t)n > cut && strcmp(exe + n - cut, peer_deleted) == 0) {
        exe[n - cut] = '\0';
        p->exe_deleted = 1;
    }
    p->exe = strdup(exe);
    if (p->exe == NULL)
        return peer_fail(p->pid, "no memory for the executable path", ENOMEM);
    return 0;
}

static int
peer_read_cgroup(struct peer *p)
{
    char buf[PEER_CGROUP_FILE_MAX];
    size_t len = 0;
    int err;

    err = peer_read_at(p->procfd, "cgroup", buf, sizeof(buf), &len);
    if (err != 0)
        return peer_fail(p->pid, "reading /proc/PID/cgroup", err);

    err = peer_parse_cgroup(buf, len, p->cgroup, sizeof(p->cgroup));
    if (err == CUST_ERR_TOO_BIG)
        return peer_fail(p->pid, "cgroup path longer than 512 bytes", 0);
    if (err != 0)
        return peer_fail(p->pid, "malformed /proc/PID/cgroup", 0);
    return 0;
}

/* The checks that make the reads above one process's word; see the top. */
static int
peer_confirm(const struct peer *p)
{
    unsigned long long start = 0;
    struct stat st;
    int rc;

    /* The directory binding already ties the reads to one process; the
     * start time keeps that true should the binding ever weaken. */
    rc = peer_read_start(p, p->procfd, &start);
    if (rc != 0)
        return rc;
    if (start != p->start_time)
        return peer_fail(p->pid, "start time changed while reading", 0);

    if (fstatat(p->procfd, "exe", &st, 0) != 0)
        return peer_fail(p->pid, "stat of /proc/PID/exe", errno);
    if (st.st_dev != p->exe_dev || st.st_ino != p->exe_ino)
        return peer_fail(p->pid, "executed another program while read", 0);

    if (!peer_alive(p->pidfd))
        return peer_fail(p->pid, "exited while it was identified", 0);
    return 0;
}

int
peer_identify(int fd, struct peer *out)
{
    struct peer p;
    int rc;

    peer_blank(&p);
    rc = peer_read_creds(fd, &p);
    if (rc != 0)
        goto out;

    rc = peer_open_pidfd(fd, &p);
    if (rc != 0)
        goto out;
    rc = peer_open_proc(&p, &p.procfd);
    if (rc != 0)
        goto out;
    if (!peer_alive(p.pidfd)) {
        rc = peer_fail(p.pid, "exited before it was identified", 0);
        goto out;
    }

    rc = peer_read_start(&p, p.procfd, &p.start_time);
    if (rc == 0)
        rc = peer_read_exe(&p);
    if (rc == 0)
        rc = peer_read_cgroup(&p);
    if (rc == 0)
        rc = peer_confirm(&p);

out:
    if (rc != 0) {
        peer_release(&p);
        return rc;
    }
    /* The pidfd has done its work; /proc/PID stays for the executable's
     * hash, which a policy may ask for later.
     * XXX: a second open file per connection, even when no identity
     * asks for a hash: connections are bounded by half the fd limit. */
    close(p.pidfd);
    p.pidfd = -1;
    *out = p;
    return 0;
}

int
peer_credentials(int fd, struct peer *out)
{
    struct peer p;
    int rc;

    peer_blank(&p);
    rc = peer_read_creds(fd, &p);
    /* Past the uid, only the groups can fail: name the caller without. */
    if (rc != 0 && p.pid <= 0)
        return rc;
    if (rc != 0)
        p.ngroups = 0;
    p.exe = strdup("");
    if (p.exe == NULL)
        return CUST_ERR_NOMEM;
    *out = p;
    return 0;
}

int
peer_from_values(struct peer *out, pid_t pid, uid_t uid, gid_t gid,
                 const char *exe, const char *cgroup)
{
    struct peer p;

    if (out == NULL)
        return CUST_ERR_ARG;
    if (exe == NULL)
        exe = "";
    if (cgroup == NULL)
        cgroup = "";
    if (strlen(exe) >= PATH_MAX || strlen(cgroup) > PEER_CGROUP_MAX) {
        peer_fail(pid, "synthetic caller's exe or cgroup too long", 0);
        return CUST_ERR_TOO_BIG;
    }

    peer_blank(&p);
    p.pid = pid;
    p.uid = uid;
    p.gid = gid;
    p.exe = strdup(exe);
    if (p.exe == NULL)
        return CUST_ERR_NOMEM;
    memcpy(p.cgroup, cgroup, strlen(cgroup) + 1);
    *out = p;
    return 0;
}

/*
 * The executable hash cache.
 *
 * Hashing a large binary on every connection would cost more than the
 * signature itself, so results are kept per file version, named by
 * (st_dev, st_ino, st_size, st_mtim, st_ctim). A binary replaced by
 * rename is a new inode; one rewritten in place gets a new mtime, ctime
 * and usually size; either way the key changes and the lookup misses.
 * The mtime can be set back by the file's owner, the ctime cannot (only
 * by changing the system clock), which is why both are in the key.
 * A file that changes while it is hashed is refused, not cached.
 *
 * Timestamps advance in clock ticks of a few milliseconds, so a second
 * write within the tick of the first leaves the key as it was. A file
 * is therefore cached only once its ctime is PEER_CACHE_SETTLE seconds
 * old: any change after that gets a later ctime.
 *
 * 256 entries, least recently used evicted, one mutex; lookups copy 32
 * bytes under the lock, hashing runs outside it.
 */
struct peer_file_key {
    dev_t dev;
    ino_t ino;
    off_t size;
    struct timespec mtim, ctim;
};

struct peer_cache_entry {
    struct peer_file_key key;
    uint8_t sha256[32];
    uint64_t used; /* tick of the last use; 0 while the slot is empty */
};

static struct {
    pthread_mutex_t lock;
    struct peer_cache_entry slot[PEER_CACHE_SIZE];
    uint64_t tick, hits, misses;
    size_t entries;
} peer_cache = {.lock = PTHREAD_MUTEX_INITIALIZER};

static void
peer_key_from_stat(const struct stat *st, struct peer_file_key *key)
{
    memset(key, 0, sizeof(*key));
    key->dev = st->st_dev;
    key->ino = st->st_ino;
    key->size = st->st_size;
    key->mtim = st->st_mtim;
    key->ctim = st->st_ctim;
}

static int
peer_key_equal(const struct peer_file_key *a, const struct peer_file_key *b)
{
    return a->dev == b->dev && a->ino == b->ino && a->size == b->size &&
           a->mtim.tv_sec == b->mtim.tv_sec &&
           a->mtim.tv_nsec == b->mtim.tv_nsec &&
           a->ctim.tv_sec == b->ctim.tv_sec &&
           a->ctim.tv_nsec == b->ctim.tv_nsec;
}

/* Caller holds the lock. Returns the slot holding KEY, or NULL. */
static struct peer_cache_entry *
peer_cache_find(const struct peer_file_key *key)
{
    size_t i;

    for (i = 0; i < PEER_CACHE_SIZE; i++)
        if (peer_cache.slot[i].used != 0 &&
            peer_key_equal(&peer_cache.slot[i].key, key))
            return &peer_cache.slot[i];
    return NULL;
}

static int
peer_cache_lookup(const struct peer_file_key *key, uint8_t out[32])
{
    struct peer_cache_entry *e;

    pthread_mutex_lock(&peer_cache.lock);
    e = peer_cache_find(key);
    if (e != NULL) {
        e->used = ++peer_cache.tick;
        memcpy(out, e->sha256, 32);
        peer_cache.hits++;
    } else {
        peer_cache.misses++;
    }
    pthread_mutex_unlock(&peer_cache.lock);
    return e != NULL;
}

static void
peer_cache_insert(const struct peer_file_key *key, const uint8_t sha256[32])
{
    struct peer_cache_entry *e;
    size_t i;

    pthread_mutex_lock(&peer_cache.lock);
    /* Two threads may have hashed the same file at once. */
    e = peer_cache_find(key);
    for (i = 0; e == NULL && i < PEER_CACHE_SIZE; i++)
        if (peer_cache.slot[i].used == 0)
            e = &peer_cache.slot[i];
    if (e == NULL) {
        e = &peer_cache.slot[0];
        for (i = 1; i < PEER_CACHE_SIZE; i++)
            if (peer_cache.slot[i].used < e->used)
                e = &peer_cache.slot[i];
    }
    if (e->used == 0)
        peer_cache.entries++;
    e->key = *key;
    memcpy(e->sha256, sha256, 32);
    e->used = ++peer_cache.tick;
    pthread_mutex_unlock(&peer_cache.lock);
}

void
peer_cache_stats(struct peer_cache_stats *out)
{
    pthread_mutex_lock(&peer_cache.lock);
    out->hits = peer_cache.hits;
    out->misses = peer_cache.misses;
    out->entries = peer_cache.entries;
    pthread_mutex_unlock(&peer_cache.lock);
}

static int
peer_settled(const struct peer_file_key *key)
{
    struct timespec now;

    if (clock_gettime(CLOCK_REALTIME, &now) != 0)
        return 0;
    return key->ctim.tv_sec + PEER_CACHE_SETTLE < now.tv_sec;
}

/*
 * The /proc/PID directory to open the executable through: the one P
 * holds, or a new one whose process must have P's start time (a pid
 * reused within one clock tick is out of reach).
 */
static int
peer_dir_for_hash(const struct peer *p, int *out)
{
    unsigned long long start = 0;
    int dir = -1, rc;

    if (p->procfd >= 0) {
        *out = p->procfd;
        return 0;
    }
    if (p->start_time == 0)
        return peer_fail(p->pid, "synthetic caller has no executable", 0);

    rc = peer_open_proc(p, &dir);
    if (rc != 0)
        return rc;
    rc = peer_read_start(p, dir, &start);
    if (rc == 0 && start != p->start_time)
        rc = peer_fail(p->pid, "process has exited", 0);
    if (rc != 0) {
        close(dir);
        return rc;
    }
    *out = dir;
    return 0;
}

/* Opens the executable P was identified with, for reading. */
static int
peer_open_exe(const struct peer *p, int dir, int *out,
              struct peer_file_key *key)
{
    struct stat st;
    int fd;

    fd = openat(dir, "exe", O_RDONLY | O_CLOEXEC | O_NOCTTY);
    if (fd < 0)
        return peer_fail(p->pid, "opening /proc/PID/exe", errno);
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return peer_fail(p->pid, "executable is not a regular file", 0);
    }
    if (st.st_dev != p->exe_dev || st.st_ino != p->exe_ino) {
        close(fd);
        return peer_fail(p->pid, "executed another program since", 0);
    }
    if ((unsigned long long)st.st_size > PEER_EXE_HASH_MAX) {
        close(fd);
        peer_fail(p->pid, "executable larger than 512 MiB", 0);
        return CUST_ERR_TOO_BIG;
    }
    peer_key_from_stat(&st, key);
    *out = fd;
    return 0;
}

/*
 * Feeds FD from start to end into CTX and checks that what was read is
 * the file version KEY names, from its first byte to its last.
 */
static int
peer_digest_fd(pid_t pid, EVP_MD_CTX *ctx, int fd,
               const struct peer_file_key *key)
{
    unsigned char chunk[PEER_HASH_CHUNK];
    unsigned long long total = 0;
    struct peer_file_key after;
    struct stat st;
    ssize_t n;

    /* The bound also stops a file that grows while it is read. */
    while (total <= (unsigned long long)key->size) {
        n = read(fd, chunk, sizeof(chunk));
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0) {
            peer_fail(pid, "reading the executable", errno);
            return CUST_ERR_IO;
        }
        if (n == 0)
            break;
        total += (unsigned long long)n;
        if (EVP_DigestUpdate(ctx, chunk, (size_t)n) != 1)
            return peer_fail_openssl(pid);
    }

    if (fstat(fd, &st) != 0) {
        peer_fail(pid, "stat of the executable", errno);
        return CUST_ERR_IO;
    }
    peer_key_from_stat(&st, &after);
    if (total != (unsigned long long)key->size || !peer_key_equal(key, &after))
        return peer_fail(pid, "executable changed while it was hashed", 0);
    return 0;
}

static int
peer_hash_fd(pid_t pid, int fd, const struct peer_file_key *key,
             uint8_t out[32])
{
    EVP_MD_CTX *ctx;
    int rc;

    ctx = EVP_MD_CTX_new();
    if (ctx == NULL)
        return CUST_ERR_NOMEM;
    if (EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1) {
        rc = peer_fail_openssl(pid);
        goto out;
    }
    rc = peer_digest_fd(pid, ctx, fd, key);
    if (rc == 0 && EVP_DigestFinal_ex(ctx, out, NULL) != 1)
        rc = peer_fail_openssl(pid);
out:
    EVP_MD_CTX_free(ctx);
    return rc;
}

int
peer_exe_sha256(const struct peer *p, uint8_t out[32])
{
    struct peer_file_key key = {0};
    uint8_t md[32];
    int dir = -1, fd = -1, rc;

    rc = peer_dir_for_hash(p, &dir);
    if (rc != 0)
        return rc;
    rc = peer_open_exe(p, dir, &fd, &key);
    if (rc != 0)
        goto out;

    if (!peer_cache_lookup(&key, md)) {
        rc = peer_hash_fd(p->pid, fd, &key, md);
        if (rc != 0)
            goto out;
        if (peer_settled(&key))
            peer_cache_insert(&key, md);
    }
    memcpy(out, md, sizeof(md));
out:
    if (fd >= 0)
        close(fd);
    if (dir != p->procfd)
        close(dir);
    return rc;
}
