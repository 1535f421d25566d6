/*
 * Who is calling: the identity of the process at the other end of an
 * accepted Unix stream socket.
 *
 * The kernel states the uid, gid, supplementary groups and pid as they
 * were when the caller called connect(). The executable, the cgroup and
 * the start time are read from /proc just after accept(), so they
 * describe the process as it is at that moment: a caller that connected
 * and then executed another program before the read is seen as that
 * program. docs/identity.md explains each fact for operators.
 *
 * Every /proc read goes through one directory descriptor of /proc/PID,
 * and a pidfd taken from the socket (SO_PEERPIDFD, Linux 6.5 and later)
 * or opened right after SO_PEERCRED (pidfd_open, older kernels) proves
 * afterwards that the process which held PID during the reads is the one
 * that connected. peer.c describes what this guards against and the
 * window that remains on older kernels.
 *
 * Nothing here logs; failures leave a reason in peer_error().
 */
#ifndef CUSTODIAN_PEER_H
#define CUSTODIAN_PEER_H

#include <limits.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>

/* Most supplementary groups a caller may have; more is refused. */
#define PEER_GROUPS_MAX 64

/* Longest cgroup path accepted, in bytes; longer is refused. */
#define PEER_CGROUP_MAX 512

/* Largest executable peer_exe_sha256() hashes (512 MiB). */
#define PEER_EXE_HASH_MAX (512ULL * 1024 * 1024)

/* Seconds since its last change before an executable's hash is cached. */
#define PEER_CACHE_SETTLE 2

/*
 * A caller. Fill it with peer_identify() or peer_from_values() and treat
 * it as read-only; release it with peer_release().
 */
struct peer {
    pid_t pid; /* in the daemon's pid namespace */
    uid_t uid; /* effective uid at connect() */
    gid_t gid; /* effective gid at connect() */
    size_t ngroups;
    gid_t groups[PEER_GROUPS_MAX]; /* supplementary groups at connect() */
    /* Clock ticks from boot to the start of the process (field 22 of
     * /proc/PID/stat); with PID it names one process for the whole
     * uptime. 0 for a synthetic caller. */
    unsigned long long start_time;
    /* The executable when the identity was read, as /proc/PID/exe names
     * it from the daemon's root, without the " (deleted)" suffix; at most
     * PATH_MAX - 1 bytes, on the heap at its own length (a connection
     * holds a peer for its whole life). */
    char *exe;
    int exe_deleted; /* the path no longer names that executable */
    dev_t exe_dev;   /* the file EXE named when read, to notice a later */
    ino_t exe_ino;   /* execve() before hashing */
    /* The unified (cgroup v2) hierarchy path, "/system.slice/x.service";
     * "" when the system has no unified hierarchy. */
    char cgroup[PEER_CGROUP_MAX + 1];
    int pidfd_from_socket; /* 1: SO_PEERPIDFD; 0: pidfd_open() */
    int pidfd;             /* during identification only; -1 after */
    int procfd;            /* /proc/PID, held until peer_release(); -1 if
                              none */
};

/*
 * Reads the identity of the process at the other end of FD, a connected
 * Unix stream socket just returned by accept() (or one end of a
 * socketpair(), whose creator it then names). Does not block; takes a few
 * system calls and two descriptors, held in *OUT until peer_release().
 * Thread-safe.
 *
 * Returns 0 and fills *OUT, or one of these and leaves *OUT untouched,
 * holding nothing to release, with a reason in peer_error():
 * CUST_ERR_PEER   the caller is gone, is not visible (or FD is not
 *                 connected), changed during the reads, or exceeds
 *                 PEER_GROUPS_MAX, PATH_MAX or PEER_CGROUP_MAX;
 * CUST_ERR_ARG    FD is not a Unix socket.
 */
int peer_identify(int fd, struct peer *out);

/*
 * Fills *OUT with what the kernel states about the process at the other
 * end of FD, without reading /proc: pid, uid, gid and the supplementary
 * groups (none when they exceed PEER_GROUPS_MAX); the executable and
 * cgroup are empty. For naming, in a refusal and its audit record, a
 * caller that peer_identify() refused; never for a policy decision.
 * Holds no descriptors; release it with peer_release(). Returns 0, or
 * CUST_ERR_ARG / CUST_ERR_PEER as peer_identify() does for the
 * credentials, or CUST_ERR_NOMEM.
 */
int peer_credentials(int fd, struct peer *out);

/*
 * Builds a synthetic caller, for policy tests and explanations: no
 * process stands behind it and it holds no descriptors. EXE and CGROUP
 * may be NULL ("" then). Supplementary groups may be set in the struct
 * afterwards. Returns 0, CUST_ERR_ARG for a NULL OUT, or CUST_ERR_TOO_BIG
 * if EXE does not fit PATH_MAX or CGROUP exceeds PEER_CGROUP_MAX,
 * CUST_ERR_NOMEM. Release it with peer_release().
 */
int peer_from_values(struct peer *out, pid_t pid, uid_t uid, gid_t gid,
                     const char *exe, const char *cgroup);

/*
 * Computes the SHA-256 of the caller's executable: the file P->exe named
 * when P was identified, opened through /proc/PID/exe. Blocks while the
 * file is read; up to PEER_EXE_HASH_MAX bytes. Results are cached per
 * file version once the file has been unchanged for PEER_CACHE_SETTLE
 * seconds (see peer.c); the cache is thread-safe.
 *
 * Returns 0 and fills OUT, or CUST_ERR_PEER (with peer_error()) when the
 * process is gone, has executed another program since it was identified,
 * is synthetic, or the file changed while it was read; CUST_ERR_TOO_BIG
 * for a larger file; CUST_ERR_IO for a read error; CUST_ERR_INTERNAL if
 * OpenSSL fails.
 */
int peer_exe_sha256(const struct peer *p, uint8_t out[32]);

/* Closes the descriptors P holds. Accepts NULL; safe to call twice. */
void peer_release(struct peer *p);

/* Why the last failing peer_* call in this thread failed; never NULL. */
const char *peer_error(void);

/*
 * Parses LEN bytes of /proc/PID/stat (need not be NUL-terminated) and
 * stores the process start time, field 22, in *OUT. The command name in
 * field 2 may hold spaces and ')', so fields are counted from the last
 * ')'. Returns 0, or CUST_ERR_ARG for malformed input or a value that
 * does not fit. Pure; exposed for tests.
 */
int peer_parse_stat_starttime(const char *buf, size_t len,
                              unsigned long long *out);

/*
 * Finds the unified hierarchy line ("0::PATH") in LEN bytes of
 * /proc/PID/cgroup and copies PATH, NUL-terminated, to OUT of OUTMAX
 * bytes; "" when there is no such line. Returns 0, CUST_ERR_TOO_BIG if
 * PATH does not fit, or CUST_ERR_ARG for an unterminated or empty path.
 * Pure; exposed for tests.
 */
int peer_parse_cgroup(const char *buf, size_t len, char *out, size_t outmax);

/* Hits and misses of the executable hash cache since start. */
struct peer_cache_stats {
    uint64_t hits;
    uint64_t misses;
    size_t entries;
};

/* Copies the cache counters into *OUT. Thread-safe. */
void peer_cache_stats(struct peer_cache_stats *out);

/*
 * When ON is nonzero, peer_identify() ignores SO_PEERPIDFD and takes the
 * pidfd_open() path that kernels before 6.5 need. For tests of that path
 * on newer kernels; the daemon never calls it.
 */
void peer_force_pidfd_open(int on);

#endif
