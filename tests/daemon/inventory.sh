#!/bin/bash
# The identity inventory and the metrics, against a real daemon on a real
# SoftHSM2 token. Five copies of custodian-sign are five callers: three
# identities of the policy (one with a rate limit), one expired identity
# and one caller that matches none. Their requests are allowed, denied,
# rate limited and refused as expired. Then:
#   - custodianctl identities --json matches counts computed here from the
#     audit log alone, before and after a restart;
#   - custodianctl keys --json shows signatures per version and who made
#     them;
#   - custodianctl metrics and the textfile parse as strict Prometheus text
#     (promtool too when it is installed) and their counters match the log;
#   - identities unused for inventory.stale_after are marked stale.
#   - a hundred callers that match no identity make the inventory larger
#     than a frame, so that it is fetched in parts.
# Usage: inventory.sh CUSTODIAND CUSTODIANCTL CUSTODIAN_SIGN
# CUSTODIAN_TEST_WRAPPER, when set, is a command the daemon runs under.
set -euo pipefail
daemon=$1 ctl=$2 sign=$3
read -ra wrap <<<"${CUSTODIAN_TEST_WRAPPER:-}"
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    [ -n "${KEEP:-}" ] && echo "kept $work" >&2 || rm -rf "$work"
}
trap cleanup EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}

softhsm_token "$work/token" custodian-test
mkdir -p "$work/bin" "$work/files"
for who in builder releaser deployer old stranger; do
    cp "$sign" "$work/bin/$who"
done
cat >"$work/custodiand.conf" <<CONF
user = "$(id -un)";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "release"; type = "ecdsa-p256"; },
         { name = "docs"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = $(id -u); }; } );
identities = (
  { name = "builder"; match = { exe = "$work/bin/builder"; };
    grants = ( { keys = "release"; namespaces = "file"; } ); },
  { name = "releaser"; match = { exe = "$work/bin/releaser"; };
    grants = ( { keys = [ "release", "docs" ]; } ); },
  { name = "deployer"; match = { exe = "$work/bin/deployer"; };
    grants = ( { keys = "docs"; rate = "1/h"; burst = 1; } ); },
  { name = "old"; match = { exe = "$work/bin/old"; }; expires = "2020-01-01";
    grants = ( { keys = "docs"; } ); },
  { name = "idle"; match = { exe = "/nonexistent/idle"; };
    grants = ( { keys = "docs"; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
suspended = "$work/suspended";
inventory = { stale_after = "5s"; };
metrics = { textfile = "$work/custodian.prom"; interval = "1s"; };
CONF

start_daemon() {
    : >"$work/daemon.log"
    "${wrap[@]}" "$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
    pid=$!
    for _ in $(seq 600); do
        grep -q "serving on" "$work/daemon.log" && return 0
        kill -0 "$pid" 2>/dev/null || fail "custodiand exited"
        sleep 0.05
    done
    fail "custodiand did not start"
}
stop_daemon() {
    kill -TERM "$pid"
    wait "$pid" || fail "custodiand exited with $?"
    pid=
}
export CUSTODIAN_SOCKET=$work/sign.sock CUSTODIAN_ADMIN_SOCKET=$work/admin.sock

start_daemon
"$ctl" key create release >/dev/null || fail "key create release"
"$ctl" key create docs >/dev/null || fail "key create docs"

# WHO signs N files with KEY and the extra options; refusals are expected.
sign_as() {
    local who=$1 n=$2 key=$3 i files=()
    shift 3
    for i in $(seq "$n"); do
        echo "$who $key $i $RANDOM" >"$work/files/$who-$key-$i"
        files+=("$work/files/$who-$key-$i")
    done
    "$work/bin/$who" sign --key "$key" "$@" "${files[@]}" \
        >/dev/null 2>&1 || true
}

echo "== a workload from five callers"
sign_as builder 4 release --namespace file  # allowed
sign_as builder 1 release --namespace git   # denied: namespace
sign_as builder 2 docs                      # denied: no grant
sign_as releaser 3 release                  # allowed
sign_as releaser 2 docs                     # allowed
sign_as deployer 3 docs                     # 1 allowed, 2 rate limited
sign_as old 1 docs                          # expired
sign_as stranger 2 release                  # denied: no identity
# Many callers that match no identity: the inventory outgrows one frame
# and comes in parts.
for i in $(seq 100); do
    cp "$sign" "$work/bin/s$i"
    "$work/bin/s$i" sign --key release "$work/files/builder-release-1" \
        >/dev/null 2>&1 || true
done
"$ctl" key rotate docs >/dev/null || fail "key rotate docs"
sign_as releaser 2 docs                     # allowed, by version 2

# Compares the daemon's inventory (file $1) with the audit log, and the
# metrics (file $2, Prometheus text) with both. Prints what differs.
check_counts() {
    python3 - "$work/audit.log" "$1" "$2" "$work/bin" <<'PY'
import json, sys
log, inv_path, prom_path, bindir = sys.argv[1:5]
keys = {"release", "docs"}
def decision(r):
    if r.get("released") is False: return "error"
    e = r.get("error")
    if e is None: return "allowed"
    return {"CUST_ERR_DENIED": "denied", "CUST_ERR_KEY_NOT_FOUND": "denied",
            "CUST_ERR_SUSPENDED": "denied",
            "CUST_ERR_RATE_LIMITED": "rate_limited",
            "CUST_ERR_EXPIRED": "expired"}.get(e, "error")
want, sigs, exes = {}, {}, {}
for line in open(log):
    r = json.loads(line)
    if r.get("event") not in ("sign", "pubkey", "list"): continue
    who = r["identity"] or "uid %d %s" % (r["caller"]["uid"], r["caller"]["exe"])
    k = r.get("key") or None
    if k is not None and k not in keys: k = "(unknown)"
    d = (who, k, r["event"], decision(r))
    want[d] = want.get(d, 0) + 1
    exes.setdefault(who, set()).add(r["caller"]["exe"])
    if r["event"] == "sign" and decision(r) == "allowed":
        sigs[(k, r["version"])] = sigs.get((k, r["version"]), 0) + 1
inv = json.load(open(inv_path))
got, got30, got1h, gotexe = {}, {}, {}, {}
for i in inv["identities"]:
    who = i["identity"] or "uid %d %s" % (i["uid"], i["exe"])
    if i["executables"]: gotexe[who] = {e["path"] for e in i["executables"]}
    for u in i["keys"]:
        for op, ds in u["totals"].items():
            for d, n in ds.items():
                if n: got[(who, u["key"], op, d)] = n
        for d in ("allowed", "denied", "rate_limited", "expired", "error"):
            for w, g in (("30d", got30), ("1h", got1h)):
                n = u["requests"][w][d]
                if n: g[(who, u["key"], d)] = g.get((who, u["key"], d), 0) + n
bad = []
if got != want: bad.append("totals: inventory %s, log %s" % (got, want))
flat = {}
for (who, k, op, d), n in want.items():
    flat[(who, k, d)] = flat.get((who, k, d), 0) + n
if got30 != flat: bad.append("30d window %s, log %s" % (got30, flat))
if got1h != flat: bad.append("1h window %s, log %s" % (got1h, flat))
if gotexe != exes: bad.append("executables %s, log %s" % (gotexe, exes))
gotsig = {}
for k in inv["keys"]:
    for v in k["versions"]:
        gotsig[(k["key"], v["version"])] = v["signatures"]
if gotsig != sigs: bad.append("signatures %s, log %s" % (gotsig, sigs))
# The metrics' request counters: strangers share identity "(none)".
prom = {}
for line in open(prom_path):
    if line.startswith("custodian_requests_total{"):
        labels, value = line.rsplit(" ", 1)
        l = dict(p.split("=", 1) for p in labels[len("custodian_requests_total{"):-1].split(","))
        l = {a: b.strip('"') for a, b in l.items()}
        key = (l["identity"], l["key"] or None, l["operation"], l["decision"])
        prom[key] = prom.get(key, 0) + float(value)
pwant = {}
for (who, k, op, d), n in want.items():
    key = (who if not who.startswith("uid ") else "(none)", k, op, d)
    pwant[key] = pwant.get(key, 0) + n
if prom != pwant: bad.append("metrics %s, log %s" % (prom, pwant))
psig = {}
for line in open(prom_path):
    if line.startswith("custodian_signatures_total{"):
        labels, value = line.rsplit(" ", 1)
        k = labels.split('key="')[1].split('"')[0]
        v = int(labels.split('version="')[1].split('"')[0])
        psig[(k, v)] = float(value)
if psig != sigs: bad.append("metric signatures %s, log %s" % (psig, sigs))
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
}

# A strict reader of the Prometheus text format 0.0.4: every sample under
# a HELP and TYPE of its family, names and labels well formed, label
# values escaped, no series twice, counters named _total, histogram
# buckets cumulative and ending in +Inf equal to _count.
check_prom() {
    python3 - "$1" <<'PY'
import re, sys
name_re = re.compile(r"[a-zA-Z_:][a-zA-Z0-9_:]*$")
label_re = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\[\\"n])*)"')
fams, cur, seen, bad = {}, None, set(), []
hist = {}
def parse_labels(s, n):
    out, pos = [], 0
    while pos < len(s):
        m = label_re.match(s, pos)
        if not m: bad.append("%d: bad labels %r" % (n, s)); return None
        out.append((m.group(1), m.group(2)))
        pos = m.end()
        if pos < len(s):
            if s[pos] != ",": bad.append("%d: bad labels %r" % (n, s)); return None
            pos += 1
    names = [a for a, _ in out]
    if len(set(names)) != len(names): bad.append("%d: label twice" % n)
    return tuple(out)
text = open(sys.argv[1]).read()
if not text.endswith("\n"): bad.append("no final line feed")
for n, line in enumerate(text.split("\n")[:-1], 1):
    if line.startswith("# HELP "):
        parts = line.split(" ", 3)
        if len(parts) < 4 or not name_re.match(parts[2]): bad.append("%d: HELP" % n); continue
        if parts[2] in fams: bad.append("%d: family %s twice" % (n, parts[2]))
        fams[parts[2]] = None; cur = parts[2]
    elif line.startswith("# TYPE "):
        parts = line.split(" ")
        if len(parts) != 4 or parts[2] != cur or fams[cur] is not None or \
           parts[3] not in ("counter", "gauge", "histogram", "summary", "untyped"):
            bad.append("%d: TYPE %r" % (n, line)); continue
        fams[cur] = parts[3]
        if parts[3] == "counter" and not cur.endswith("_total"):
            bad.append("%d: counter %s without _total" % (n, cur))
    elif line.startswith("#") or line == "":
        bad.append("%d: unexpected %r" % (n, line))
    else:
        m = re.match(r"([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})? (\S+)$", line)
        if not m: bad.append("%d: bad sample %r" % (n, line)); continue
        name, labels, value = m.group(1), parse_labels(m.group(3) or "", n), m.group(4)
        try: v = float(value)
        except ValueError: bad.append("%d: bad value %r" % (n, value)); continue
        base = name
        if fams.get(cur) == "histogram":
            base = re.sub(r"_(bucket|sum|count)$", "", name)
        if base != cur or fams.get(cur) is None:
            bad.append("%d: sample %s outside its family" % (n, name)); continue
        if (name, labels) in seen: bad.append("%d: series twice %s%s" % (n, name, labels))
        seen.add((name, labels))
        if fams[cur] == "counter" and v < 0: bad.append("%d: negative counter" % n)
        if fams[cur] == "histogram" and labels is not None:
            rest = tuple(l for l in labels if l[0] != "le")
            h = hist.setdefault((cur, rest), {"b": [], "count": None})
            if name.endswith("_bucket"):
                le = dict(labels).get("le")
                if le is None: bad.append("%d: bucket without le" % n)
                else: h["b"].append((float(le), v))
            elif name.endswith("_count"): h["count"] = v
for (fam, rest), h in hist.items():
    b = h["b"]
    if not b or b[-1][0] != float("inf"): bad.append("%s%s: no +Inf bucket" % (fam, rest))
    elif b[-1][1] != h["count"]: bad.append("%s%s: +Inf is not _count" % (fam, rest))
    if any(b[i][0] >= b[i+1][0] or b[i][1] > b[i+1][1] for i in range(len(b) - 1)):
        bad.append("%s%s: buckets not cumulative" % (fam, rest))
for want in ("custodian_requests_total", "custodian_request_duration_seconds",
             "custodian_degraded", "custodian_connections",
             "custodian_audit_syncs_total", "custodian_audit_batch_records",
             "custodian_key_rotations_total"):
    if want not in fams: bad.append("no family " + want)
print("\n".join(bad))
sys.exit(1 if bad else 0)
PY
    if command -v promtool >/dev/null; then
        promtool check metrics <"$1" || fail "promtool refuses $1"
    fi
}

snapshot() {
    "$ctl" identities --json >"$work/inv-$1.json" ||
        fail "identities --json ($1)"
    "$ctl" metrics >"$work/metrics-$1.prom" || fail "metrics ($1)"
    check_prom "$work/metrics-$1.prom" >"$work/why" ||
        fail "metrics ($1) are not strict Prometheus text: $(cat "$work/why")"
    check_counts "$work/inv-$1.json" "$work/metrics-$1.prom" >"$work/why" ||
        fail "inventory ($1) does not match the audit log: $(cat "$work/why")"
}

echo "== identities and metrics match the audit log"
snapshot before
jq -e '.identities[] | select(.identity == "old") | .expired' \
    "$work/inv-before.json" >/dev/null || fail "old is not shown expired"
jq -e '[.identities[] | select(.identity == null)] | length == 101 and
       .[0].uid == '"$(id -u)"' and .[0].exe == "'"$work/bin/stranger"'"' \
    "$work/inv-before.json" >/dev/null || fail "the strangers are not kept apart"
[ "$(jq -c . "$work/inv-before.json" | wc -c)" -gt 120000 ] ||
    fail "the inventory fits one frame: the test does not cover parts"
[ "$(grep -c '"action":"inventory"' "$work/audit.log")" -gt 2 ] ||
    fail "the inventory came in one part"
grep -q '^custodian_key_rotations_total{key="docs"} 1$' \
    "$work/metrics-before.prom" || fail "the rotation of docs is not counted"
grep -q '^custodian_key_active_version{key="docs"} 2$' \
    "$work/metrics-before.prom" || fail "docs is not at version 2"

echo "== the tables"
"$ctl" identities >"$work/table"
# builder's row: allowed/refused in each window, as the JSON counts them.
ar=$(jq -r '.identities[] | select(.identity == "builder") |
    .requests."30d" | "\(.allowed)/\(.denied + .rate_limited + .expired +
    .error)"' "$work/inv-before.json")
grep -Eq "^builder +(ok|stale) +[0-9TZ:-]+ +$ar +$ar +$ar  $work/bin/builder\$" \
    "$work/table" || fail "identities table ($ar): $(cat "$work/table")"
grep -Eq '^\(uid [0-9]+\) +no match ' "$work/table" ||
    fail "identities table without the stranger: $(cat "$work/table")"
grep -Eq '^old +expired ' "$work/table" ||
    fail "identities table: old not expired: $(cat "$work/table")"
"$ctl" keys >"$work/table"
row=$(jq -r '.keys[] | select(.key == "docs") |
    ([.versions[] | "v\(.version):\(.signatures)"] | join(" ")) + "  " +
    ([.identities[].identity] | join(", "))' "$work/inv-before.json")
case $row in "v1:3 v2:2  "*releaser*) ;; *) fail "docs use: $row" ;; esac
grep -q "^docs .*  $row\$" "$work/table" ||
    fail "keys table ($row): $(cat "$work/table")"
"$ctl" keys --json >"$work/keys.json" || fail "keys --json"
jq -e '.[] | select(.key == "release") | .version == 1 and
       (.identities | map(select(.identity == "builder"))[0].signatures == 4)' \
    "$work/keys.json" >/dev/null || fail "keys --json: $(cat "$work/keys.json")"

echo "== the textfile"
for _ in $(seq 100); do
    grep -q 'custodian_requests_total{identity="releaser",key="docs"' \
        "$work/custodian.prom" 2>/dev/null && break
    sleep 0.05
done
check_prom "$work/custodian.prom" >"$work/why" ||
    fail "the textfile is not strict Prometheus text: $(cat "$work/why")"
grep -q '^custodian_requests_total{identity="deployer",key="docs",operation="sign",decision="rate_limited"} 2$' \
    "$work/custodian.prom" || fail "textfile counters: $(cat "$work/custodian.prom")"
[ "$(stat -c %a "$work/custodian.prom")" = 644 ] ||
    fail "the textfile is not readable by node_exporter"

echo "== stale after 5 s unused"
sleep 6
sign_as builder 1 release --namespace file
"$ctl" identities --json >"$work/inv-stale.json"
[ "$(jq -c '[.identities[] | select(.stale) | .identity] | unique' \
    "$work/inv-stale.json")" = '[null,"deployer","idle","old","releaser"]' ] ||
    fail "stale: $(jq -c '[.identities[] | [.identity, .stale]]' \
        "$work/inv-stale.json")"

echo "== after a restart, the same counts, from the log"
stop_daemon
start_daemon
# The log is read on a thread of its own while the daemon serves.
for _ in $(seq 200); do
    "$ctl" identities --json | jq -e .rebuild.done >/dev/null && break
    sleep 0.05
done
grep -q "inventory: [0-9]* audit records read in" "$work/daemon.log" ||
    fail "no rebuild logged at start"
snapshot after
for f in before after; do
    jq -S '[.identities[] | {identity, uid, exe,
            keys: [.keys[] | {key, totals}]}]' "$work/inv-$f.json" \
        >"$work/cmp-$f.json"
done
# Only builder signed in between: everything else is as it was.
jq -S 'map(select(.identity != "builder"))' "$work/cmp-before.json" \
    >"$work/a.json"
jq -S 'map(select(.identity != "builder"))' "$work/cmp-after.json" \
    >"$work/b.json"
cmp -s "$work/a.json" "$work/b.json" ||
    fail "a restart changed the inventory: $(diff "$work/a.json" "$work/b.json")"
[ "$(jq -c '[.identities[] | select(.stale) | .identity] | sort' \
    "$work/inv-after.json")" != '[]' ] || fail "staleness lost in a restart"

echo "== a suspended identity says so"
"$ctl" identity suspend deployer --reason "inventory test" >/dev/null ||
    fail "identity suspend"
sign_as deployer 1 docs                     # denied: suspended
"$ctl" identities >"$work/table"
grep -Eq '^deployer +suspended ' "$work/table" ||
    fail "suspension not shown: $(cat "$work/table")"
"$ctl" identities --json | jq -e '.identities[] |
    select(.identity == "deployer") | .suspended | test("inventory test")' \
    >/dev/null || fail "suspension not in the JSON"
"$ctl" metrics >"$work/metrics-suspended.prom"
check_prom "$work/metrics-suspended.prom" >"$work/why" ||
    fail "metrics while suspended: $(cat "$work/why")"
grep -q '^custodian_identity_suspended_timestamp_seconds{identity="deployer"} [0-9]' \
    "$work/metrics-suspended.prom" || fail "no suspension metric"
"$ctl" identities --json >"$work/inv-suspended.json"
check_counts "$work/inv-suspended.json" "$work/metrics-suspended.prom" \
    >"$work/why" || fail "suspended: $(cat "$work/why")"
grep -q "CUST_ERR_SUSPENDED" "$work/audit.log" ||
    fail "the suspended identity's request was not refused as suspended"
"$ctl" identity resume deployer >/dev/null || fail "identity resume"

echo "== a reload: a new identity is listed, a dropped one marked"
sed -i 's|name = "idle"; match = { exe = "/nonexistent/idle"; };|name = "newbot"; match = { exe = "/nonexistent/newbot"; };|' \
    "$work/custodiand.conf"
"$ctl" reload >/dev/null || fail "reload"
"$ctl" identities --json >"$work/inv-reload.json"
jq -e '(.identities[] | select(.identity == "newbot") | .in_policy) and
       (.identities[] | select(.identity == "old") | .in_policy) and
       ([.identities[] | select(.identity == "idle")] | length == 0 or
        .[0].in_policy == false)' "$work/inv-reload.json" >/dev/null ||
    fail "reload: $(jq -c '[.identities[] | [.identity, .in_policy]]' \
        "$work/inv-reload.json")"
"$ctl" identities >"$work/table"
grep -Eq '^releaser +(ok|stale) ' "$work/table" ||
    fail "reload lost releaser: $(cat "$work/table")"

stop_daemon
"$ctl" audit verify "$work/audit.log" >/dev/null || fail "audit chain broken"
echo "ok"
