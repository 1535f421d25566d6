/*
 * custodian-bench's driver: options, client threads, pacing, latency
 * percentiles and the check of a sample of signatures. It prints one
 * JSON object per run on standard output (docs/performance.md).
 */
#include <dirent.h>
#include <errno.h>
#include <getopt.h>
#include <limits.h>
#include <math.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

#include <openssl/sha.h>

#include "bench.h"

#define BENCH_LAT_MAX    (1u << 22) /* latencies kept per client */
#define BENCH_ERRORS_MAX 100        /* failed requests before a client stops */

struct sample {
    uint8_t msg[BENCH_MSG_LEN];
    uint8_t sig[BENCH_SIG_MAX];
    size_t siglen;
};

struct client {
    pthread_t thread;
    unsigned id;
    const struct bench_opts *o;
    const struct bench_ops *ops;
    void *target;
    uint32_t *lat; /* microseconds, one per answer */
    size_t nlat;
    uint64_t errors;
    struct sample *samples; /* the first answers, to check */
    size_t nsamples, maxsamples;
    int failed; /* could not connect */
};

static atomic_bool bench_stop;

static double
now_s(void)
{
    struct timespec ts;

    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void
sleep_until(double t)
{
    double d = t - now_s();
    struct timespec ts;

    if (d <= 0)
        return;
    ts.tv_sec = (time_t)d;
    ts.tv_nsec = (long)((d - (double)ts.tv_sec) * 1e9);
    nanosleep(&ts, NULL);
}

void
bench_message(unsigned client, uint64_t seq, uint8_t msg[BENCH_MSG_LEN])
{
    memset(msg, 0, BENCH_MSG_LEN);
    snprintf((char *)msg, BENCH_MSG_LEN, "custodian-bench %u %llu", client,
             (unsigned long long)seq);
}

int
bench_check(EVP_PKEY *pub, enum alg_keytype type, const uint8_t *msg,
            const uint8_t *sig, size_t siglen)
{
    EVP_MD_CTX *m = EVP_MD_CTX_new();
    const char *md = type == ALG_KEY_ED25519 ? NULL : "SHA256";
    int ok = m != NULL &&
             EVP_DigestVerifyInit_ex(m, NULL, md, NULL, NULL, pub, NULL) == 1 &&
             EVP_DigestVerify(m, sig, siglen, msg, BENCH_MSG_LEN) == 1;

    EVP_MD_CTX_free(m);
    return ok;
}

int
bench_unix_connect(const char *path)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    int fd;

    if (strlen(path) >= sizeof(sa.sun_path))
        return -1;
    strcpy(sa.sun_path, path);
    fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        close(fd);
        fd = -1;
    }
    return fd;
}

int
bench_write_all(int fd, const void *data, size_t len)
{
    const uint8_t *p = data;
    ssize_t n;

    while (len > 0) {
        n = send(fd, p, len, MSG_NOSIGNAL);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

int
bench_read_all(int fd, void *data, size_t len)
{
    uint8_t *p = data;
    ssize_t n;

    while (len > 0) {
        n = recv(fd, p, len, 0);
        if (n < 0 && errno == EINTR)
            continue;
        if (n <= 0)
            return -1;
        p += n;
        len -= (size_t)n;
    }
    return 0;
}

static void
client_record(struct client *c, double sent, const uint8_t *msg,
              const uint8_t *sig, size_t siglen)
{
    struct sample *s;

    if (c->nlat < BENCH_LAT_MAX)
        c->lat[c->nlat++] = (uint32_t)((now_s() - sent) * 1e6);
    if (c->nsamples < c->maxsamples) {
        s = &c->samples[c->nsamples++];
        memcpy(s->msg, msg, BENCH_MSG_LEN);
        memcpy(s->sig, sig, siglen);
        s->siglen = siglen;
    }
}

/*
 * One client: up to INFLIGHT requests outstanding; with a target rate,
 * request k is due at start + k * interval, and its latency counts from
 * then, so that a slow answer delays nothing it should not.
 */
static void *
client_run(void *arg)
{
    struct client *c = arg;
    unsigned window = c->o->inflight;
    double interval = c->o->rate > 0 ? c->o->clients / c->o->rate : 0;
    double *due = calloc(window, sizeof(*due)), start;
    uint8_t(*msgs)[BENCH_MSG_LEN] = calloc(window, BENCH_MSG_LEN);
    uint8_t sig[BENCH_SIG_MAX];
    uint64_t sent = 0, done = 0;
    unsigned slot;
    size_t siglen;
    void *conn = NULL;

    if (due == NULL || msgs == NULL || c->ops->connect(c->target, &conn) != 0) {
        c->failed = 1;
        goto out;
    }
    start = now_s() + (interval > 0 ? interval * c->id / c->o->clients : 0);
    while (!atomic_load(&bench_stop) || done < sent) {
        while (!atomic_load(&bench_stop) && sent - done < window &&
               (interval == 0 || now_s() >= start + sent * interval)) {
            slot = sent % window;
            bench_message(c->id, sent, msgs[slot]);
            due[slot] = interval > 0 ? start + sent * interval : now_s();
            if (c->ops->send(conn, msgs[slot]) != 0) {
                c->failed = 1;
                goto out;
            }
            sent++;
        }
        if (done == sent) {
            sleep_until(start + sent * interval);
            continue;
        }
        siglen = sizeof(sig);
        slot = done++ % window;
        if (c->ops->recv(conn, sig, &siglen) == 0) {
            client_record(c, due[slot], msgs[slot], sig, siglen);
        } else if (++c->errors >= BENCH_ERRORS_MAX) {
            c->failed = 1; /* a signer that only fails: stop asking */
            goto out;
        }
    }
out:
    if (conn != NULL)
        c->ops->disconnect(conn);
    free(due);
    free(msgs);
    return NULL;
}

static int
cmp_u32(const void *a, const void *b)
{
    uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;

    return x < y ? -1 : x > y;
}

static double
percentile(const uint32_t *v, size_t n, double p)
{
    size_t i;

    if (n == 0)
        return 0;
    i = (size_t)ceil(p / 100.0 * (double)n);
    return v[i == 0 ? 0 : i - 1];
}

/* Checks up to O->verify of the samples; returns how many were good,
 * *CHECKED how many were looked at. */
static size_t
check_samples(const struct bench_ops *ops, void *target, struct client *cs,
              unsigned n, size_t want, size_t *checked)
{
    size_t good = 0, i;
    unsigned k;

    *checked = 0;
    for (k = 0; k < n && *checked < want; k++) {
        for (i = 0; i < cs[k].nsamples && *checked < want; i++) {
            const struct sample *s = &cs[k].samples[i];

            good += bench_check(ops->pubkey(target), ops->type(target), s->msg,
                                s->sig, s->siglen);
            (*checked)++;
        }
    }
    return good;
}

/* Opens N idle connections; their fds in *FDS. */
static int
open_idle(const struct bench_ops *ops, void *target, unsigned n, int **fds)
{
    struct rlimit rl;
    unsigned i;

    if (n == 0)
        return 0;
    if (ops->idle == NULL) {
        fprintf(stderr, "custodian-bench: %s has no idle connections\n",
                ops->name);
        return -1;
    }
    /* Room for the idle ones, the clients and a margin. */
    if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < n + 1024) {
        rl.rlim_cur = rl.rlim_max > n + 1024 ? n + 1024 : rl.rlim_max;
        setrlimit(RLIMIT_NOFILE, &rl);
    }
    *fds = calloc(n, sizeof(**fds));
    for (i = 0; *fds != NULL && i < n; i++) {
        if (ops->idle(target, &(*fds)[i]) != 0) {
            fprintf(stderr, "custodian-bench: idle connection %u of %u: %s\n",
                    i + 1, n, strerror(errno));
            return -1;
        }
    }
    return *fds != NULL ? 0 : -1;
}

/* CPU time spent by this process and by the signer (--server-pid). */
struct cpu {
    double self, server; /* seconds; server -1 when not known */
};

/* Seconds of CPU time in /proc/PID/stat: the process's own and its
 * reaped children's; -1 if unreadable. *PPID: its parent. */
static double
cpu_stat(const char *pid, long *ppid)
{
    char path[300], buf[1024], *p;
    unsigned long long ut, st, cut, cst;
    FILE *f;
    size_t n;

    snprintf(path, sizeof(path), "/proc/%s/stat", pid);
    f = fopen(path, "r");
    if (f == NULL)
        return -1;
    n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    /* Fields 4 and 14 to 17, counted after the command name's ')'. */
    p = strrchr(buf, ')');
    if (p == NULL || sscanf(p + 2,
                            "%*c %ld %*d %*d %*d %*d %*u %*u %*u %*u %*u "
                            "%llu %llu %llu %llu",
                            ppid, &ut, &st, &cut, &cst) != 5)
        return -1;
    return (double)(ut + st + cut + cst) / (double)sysconf(_SC_CLK_TCK);
}

/* CPU seconds of PID and of its live children (a server may fork one
 * per connection), or -1 when PID cannot be read. */
static double
cpu_of(int pid)
{
    char self[32];
    struct dirent *e;
    double total, t;
    long ppid;
    DIR *d;

    snprintf(self, sizeof(self), "%d", pid);
    total = cpu_stat(self, &ppid);
    if (total < 0 || (d = opendir("/proc")) == NULL)
        return total;
    while ((e = readdir(d)) != NULL) {
        if (e->d_name[0] < '1' || e->d_name[0] > '9')
            continue;
        t = cpu_stat(e->d_name, &ppid);
        if (t > 0 && ppid == pid)
            total += t;
    }
    closedir(d);
    return total;
}

static struct cpu
cpu_now(const struct bench_opts *o)
{
    struct rusage ru;
    struct cpu c = {0, -1};

    if (getrusage(RUSAGE_SELF, &ru) == 0)
        c.self = (double)ru.ru_utime.tv_sec + ru.ru_utime.tv_usec / 1e6 +
                 (double)ru.ru_stime.tv_sec + ru.ru_stime.tv_usec / 1e6;
    if (o->server_pid > 0)
        c.server = cpu_of(o->server_pid);
    return c;
}

/* CPU microseconds per signature from A to B as JSON into OUT: a
 * number, or null when unknown. */
static const char *
cpu_per_sig(double a, double b, size_t n, char out[32])
{
    if (a < 0 || b < 0 || n == 0)
        return "null";
    snprintf(out, 32, "%.1f", (b - a) * 1e6 / (double)n);
    return out;
}

static void
report(const struct bench_opts *o, const struct bench_ops *ops, void *target,
       struct client *cs, double elapsed, const struct cpu *cpu, size_t checked,
       size_t good)
{
    size_t n = 0, i, k;
    uint64_t errors = 0;
    unsigned failed = 0;
    uint32_t *all;
    char self[32], server[32];

    for (k = 0; k < o->clients; k++) {
        n += cs[k].nlat;
        errors += cs[k].errors;
        failed += (unsigned)cs[k].failed;
    }
    all = malloc((n ? n : 1) * sizeof(*all));
    for (k = 0, i = 0; all != NULL && k < o->clients; k++) {
        memcpy(all + i, cs[k].lat, cs[k].nlat * sizeof(*all));
        i += cs[k].nlat;
    }
    if (all != NULL)
        qsort(all, n, sizeof(*all), cmp_u32);
    printf("{\"target\":\"%s\",\"key\":\"%s\",\"type\":\"%s\","
           "\"clients\":%u,\"inflight\":%u,\"idle\":%u,\"seconds\":%.2f,"
           "\"target_rate\":%.0f,\"signatures\":%zu,\"rate\":%.1f,"
           "\"p50_us\":%.0f,\"p99_us\":%.0f,\"p999_us\":%.0f,"
           "\"errors\":%llu,\"failed_clients\":%u,\"checked\":%zu,"
           "\"good\":%zu,\"cpu_us_per_sig\":%s,"
           "\"server_cpu_us_per_sig\":%s}\n",
           ops->name, o->key, alg_keytype_name(ops->type(target)), o->clients,
           o->inflight, o->idle, elapsed, o->rate, n, (double)n / elapsed,
           all ? percentile(all, n, 50) : 0, all ? percentile(all, n, 99) : 0,
           all ? percentile(all, n, 99.9) : 0, (unsigned long long)errors,
           failed, checked, good,
           cpu_per_sig(cpu[0].self, cpu[1].self, n, self),
           cpu_per_sig(cpu[0].server, cpu[1].server, n, server));
    free(all);
}

static void
usage(FILE *f)
{
    fprintf(
        f, "usage: custodian-bench --target native|agent|token [options]\n"
           "  -s, --socket PATH     the signer's socket (native, agent)\n"
           "  -k, --key NAME        key name (native), identity comment\n"
           "                        prefix (agent), key label (token)\n"
           "      --pubkey FILE     PEM public key to check agent answers\n"
           "      --module PATH     PKCS#11 module (token)\n"
           "      --uri URI         PKCS#11 URI of the token (token)\n"
           "      --pin-file FILE   the token's PIN (token)\n"
           "  -c, --clients N       concurrent clients (1)\n"
           "  -i, --inflight N      requests in flight per client (1)\n"
           "  -d, --duration SECS   how long to measure (5)\n"
           "  -r, --rate R          target signatures per second (flat out)\n"
           "      --idle N          idle connections held open (0)\n"
           "      --verify N        signatures checked afterwards (50)\n"
           "      --server-pid PID  also report the CPU time per signature of\n"
           "                        PID and its child processes\n"
           "Prints one JSON object; exits 1 if any request failed or any\n"
           "checked signature was bad, 2 on a usage error.\n");
}

static const struct bench_ops *
find_ops(const char *name)
{
    static const struct bench_ops *all[] = {&bench_native, &bench_agent,
                                            &bench_token};
    size_t i;

    for (i = 0; name != NULL && i < sizeof(all) / sizeof(*all); i++) {
        if (strcmp(all[i]->name, name) == 0)
            return all[i];
    }
    return NULL;
}

/* TEXT as a whole number into *OUT: 0, or -1 (named on stderr). */
static int
opt_uint(const char *text, unsigned *out)
{
    char *end;
    unsigned long v;

    errno = 0;
    v = strtoul(text, &end, 10);
    if (*text == '\0' || *end != '\0' || errno != 0 || v > UINT_MAX ||
        *text == '-') {
        fprintf(stderr, "custodian-bench: not a whole number: %s\n", text);
        return -1;
    }
    *out = (unsigned)v;
    return 0;
}

static int
opt_double(const char *text, double *out)
{
    char *end;

    errno = 0;
    *out = strtod(text, &end);
    if (*text == '\0' || *end != '\0' || errno != 0) {
        fprintf(stderr, "custodian-bench: not a number: %s\n", text);
        return -1;
    }
    return 0;
}

static int
parse_opts(int argc, char **argv, struct bench_opts *o)
{
    static const struct option longopts[] = {
        {"target", required_argument, NULL, 't'},
        {"socket", required_argument, NULL, 's'},
        {"key", required_argument, NULL, 'k'},
        {"pubkey", required_argument, NULL, 'P'},
        {"module", required_argument, NULL, 'm'},
        {"uri", required_argument, NULL, 'u'},
        {"pin-file", required_argument, NULL, 'p'},
        {"clients", required_argument, NULL, 'c'},
        {"inflight", required_argument, NULL, 'i'},
        {"duration", required_argument, NULL, 'd'},
        {"rate", required_argument, NULL, 'r'},
        {"idle", required_argument, NULL, 'I'},
        {"verify", required_argument, NULL, 'V'},
        {"server-pid", required_argument, NULL, 'S'},
        {"help", no_argument, NULL, 'h'},
        {NULL, 0, NULL, 0},
    };
    int ch, bad = 0;
    unsigned pid = 0;

    *o = (struct bench_opts){
        .clients = 1, .inflight = 1, .seconds = 5, .verify = 50, .key = ""};
    while ((ch = getopt_long(argc, argv, "t:s:k:c:i:d:r:h", longopts, NULL)) !=
           -1) {
        switch (ch) {
        case 't':
            o->target = optarg;
            break;
        case 's':
            o->socket = optarg;
            break;
        case 'k':
            o->key = optarg;
            break;
        case 'P':
            o->pubkey = optarg;
            break;
        case 'm':
            o->module = optarg;
            break;
        case 'u':
            o->uri = optarg;
            break;
        case 'p':
            o->pin_file = optarg;
            break;
        case 'c':
            bad |= opt_uint(optarg, &o->clients);
            break;
        case 'i':
            bad |= opt_uint(optarg, &o->inflight);
            break;
        case 'd':
            bad |= opt_double(optarg, &o->seconds);
            break;
        case 'r':
            bad |= opt_double(optarg, &o->rate);
            break;
        case 'I':
            bad |= opt_uint(optarg, &o->idle);
            break;
        case 'V':
            bad |= opt_uint(optarg, &o->verify);
            break;
        case 'S':
            bad |= opt_uint(optarg, &pid);
            o->server_pid = (int)pid;
            break;
        case 'h':
            usage(stdout);
            exit(0);
        default:
            return -1;
        }
    }
    if (bad || optind != argc || o->clients == 0 || o->clients > 4096 ||
        o->inflight == 0 || o->inflight > 1024 || o->seconds <= 0 ||
        o->rate < 0 || find_ops(o->target) == NULL || pid > INT_MAX)
        return -1;
    return 0;
}

static int
run(const struct bench_opts *o, const struct bench_ops *ops, void *target)
{
    struct client *cs = calloc(o->clients, sizeof(*cs));
    size_t per = o->verify / o->clients + 1, checked = 0, good, k;
    uint64_t errors = 0;
    double t0, elapsed;
    struct cpu cpu[2];
    int bad = 0;

    if (cs == NULL)
        return 1;
    for (k = 0; k < o->clients; k++) {
        cs[k] = (struct client){.id = (unsigned)k,
                                .o = o,
                                .ops = ops,
                                .target = target,
                                .maxsamples = per};
        cs[k].lat = malloc(BENCH_LAT_MAX * sizeof(*cs[k].lat));
        cs[k].samples = calloc(per, sizeof(*cs[k].samples));
    }
    cpu[0] = cpu_now(o);
    t0 = now_s();
    for (k = 0; k < o->clients; k++)
        pthread_create(&cs[k].thread, NULL, client_run, &cs[k]);
    sleep_until(t0 + o->seconds);
    atomic_store(&bench_stop, true);
    for (k = 0; k < o->clients; k++)
        pthread_join(cs[k].thread, NULL);
    elapsed = now_s() - t0;
    cpu[1] = cpu_now(o);
    good = check_samples(ops, target, cs, o->clients, o->verify, &checked);
    report(o, ops, target, cs, elapsed, cpu, checked, good);
    for (k = 0; k < o->clients; k++) {
        errors += cs[k].errors;
        bad |= cs[k].failed;
        free(cs[k].lat);
        free(cs[k].samples);
    }
    free(cs);
    /* With --verify 0 nothing is checked, and that is no failure. */
    return bad || errors > 0 || good != checked ||
           (o->verify > 0 && checked == 0);
}

int
main(int argc, char **argv)
{
    struct bench_opts o;
    const struct bench_ops *ops;
    void *target = NULL;
    int *idle = NULL, rc;

    if (parse_opts(argc, argv, &o) != 0) {
        usage(stderr);
        return 2;
    }
    ops = find_ops(o.target);
    if (ops->max_inflight != 0 && o.inflight > ops->max_inflight)
        o.inflight = ops->max_inflight;
    if (ops->open(&o, &target) != 0)
        return 1;
    if (open_idle(ops, target, o.idle, &idle) != 0) {
        ops->close(target);
        return 1;
    }
    rc = run(&o, ops, target);
    for (unsigned i = 0; idle != NULL && i < o.idle; i++)
        close(idle[i]);
    free(idle);
    ops->close(target);
    return rc;
}
