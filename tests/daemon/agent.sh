#!/bin/bash
# The OpenSSH agent socket of the real daemon, driven by the real ssh-add,
# ssh-keygen and git on a throwaway SoftHSM2 token: listing, SSH
# signatures for every key type verified by ssh-keygen, a namespace the
# policy refuses (and its audit record), requests that would change the
# agent refused while the connection serves on, and a signed git commit
# that git verifies against the keyring's allowed_signers.
# Usage: agent.sh CUSTODIAND CUSTODIANCTL AGENT_RAW CUSTODIAN_SIGN
set -euo pipefail
daemon=$(realpath "$1") ctl=$(realpath "$2") raw=$(realpath "$3") sign=$(realpath "$4")
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
    rm -rf "$work"
}
trap cleanup EXIT
[ -n "${KEEP:-}" ] && trap "kill \$pid 2>/dev/null" EXIT
fail() {
    echo "FAIL: $*" >&2
    sed 's/^/  daemon: /' "$work/daemon.log" >&2 || true
    exit 1
}
softhsm_token "$work/token" custodian-test

cat >"$work/custodiand.conf" <<CONF
user = "root";
tokens = ( { name = "hsm"; module = "$SOFTHSM_MODULE"; uri = "$SOFTHSM_URI";
             pin_file = "$SOFTHSM_PIN_FILE"; } );
keys = ( { name = "p256"; type = "ecdsa-p256"; },
         { name = "p384"; type = "ecdsa-p384"; },
         { name = "ed"; type = "ed25519"; },
         { name = "rsa"; type = "rsa-2048"; },
         { name = "gitkey"; type = "ed25519"; namespaces = [ "git" ]; },
         { name = "login"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; };
              agent = { path = "$work/agent.sock"; }; };
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "p256", "p384", "ed", "rsa" ];
                              namespaces = "file"; },
                            { keys = "gitkey"; namespaces = "git"; },
                            { keys = "login";
                              operations = [ "list", "ssh-auth" ]; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
export CUSTODIAN_ADMIN_SOCKET=$work/admin.sock SSH_AUTH_SOCK=$work/agent.sock
export CUSTODIAN_SOCKET=$work/sign.sock

"$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 200); do
    [ -S "$work/agent.sock" ] && "$ctl" status >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
keys="p256 p384 ed rsa gitkey login"
for k in $keys; do
    "$ctl" key create $k >/dev/null || fail "key create $k"
    "$ctl" pubkey $k --ssh >"$work/$k.pub"
done

# ssh-add lists every active version the caller may use, named NAME@V.
ssh-add -L >"$work/listed" || fail "ssh-add -L: $(cat "$work/listed")"
for k in $keys; do
    grep -q " $k@1\$" "$work/listed" || fail "$k not listed: $(cat "$work/listed")"
done
[ "$(wc -l <"$work/listed")" = 6 ] || fail "listed: $(cat "$work/listed")"
echo "ok: ssh-add lists the keys"

# ssh-keygen signs through the agent (-U: the agent only) and verifies.
echo "release artifact" >"$work/data"
for k in p256 p384 ed rsa; do
    rm -f "$work/data.sig"
    ssh-keygen -Y sign -U -f "$work/$k.pub" -n file "$work/data" \
        >/dev/null 2>"$work/err" || fail "$k: $(cat "$work/err")"
    echo "signer $(cut -d' ' -f1,2 "$work/$k.pub")" >"$work/allowed"
    ssh-keygen -Y verify -f "$work/allowed" -I signer -n file \
        -s "$work/data.sig" <"$work/data" >/dev/null 2>&1 ||
        fail "ssh-keygen rejects the $k signature"
    cp "$work/data.sig" "$work/data.$k.sig"
done
# OpenSSH 9.2 asks RSA keys for rsa-sha2-512, and gets it.
sed '1d;$d' "$work/data.rsa.sig" | base64 -d | grep -qa rsa-sha2-512 ||
    fail "the RSA signature is not rsa-sha2-512"
grep -q '"key":"rsa".*"front":"agent".*"namespace":"file","hash_alg":"sha512","digest":"[0-9a-f]\{128\}"' \
    "$work/audit.log" || fail "agent signature not audited with its namespace and hash"
echo "ok: ssh-keygen -Y sign through the agent, every key type, verified"

# A namespace the grant does not allow: refused, and audited.
rc=0
ssh-keygen -Y sign -U -f "$work/p256.pub" -n git "$work/data" \
    >/dev/null 2>"$work/err" || rc=$?
[ $rc != 0 ] || fail "signed for a namespace the policy refuses"
grep -q '"key":"p256","decision":"deny","error":"CUST_ERR_DENIED".*"front":"agent".*"namespace":"git"' \
    "$work/audit.log" || fail "namespace refusal not audited"
echo "ok: a namespace outside the grant is refused and audited"

# Changing the agent is refused; the daemon keeps serving.
ssh-keygen -q -t ed25519 -N '' -f "$work/outside" >/dev/null
! ssh-add "$work/outside" >/dev/null 2>&1 || fail "the agent took a key"
! ssh-add -D >/dev/null 2>&1 || fail "the agent removed its keys"
! ssh-add -x </dev/null >/dev/null 2>&1 || fail "the agent was locked"
[ "$(ssh-add -L | wc -l)" = 6 ] || fail "the agent changed"
grep -q '"event":"refused".*"error":"CUST_ERR_UNKNOWN_MESSAGE"' \
    "$work/audit.log" || fail "a refused agent request not audited"
echo "ok: requests to change the agent refused"

# What ssh-add and ssh-keygen never send, and an SSH login, which only the
# key granted "ssh-auth" signs.
"$raw" login p256 rsa >/dev/null || fail "raw agent messages"
grep -q '"key":"login","decision":"allow".*"front":"agent".*"ssh_auth":true' \
    "$work/audit.log" || fail "the ssh-auth signature not audited"
grep -q '"key":"p256","decision":"deny".*"reason":"no grant of \\"root\\" allows ssh-auth' \
    "$work/audit.log" || fail "the refused login not audited"
echo "ok: malformed agent messages refused, SSH logins for ssh-auth grants only"

# git signs a commit through the agent and verifies it with the keyring.
git init -q "$work/repo"
cd "$work/repo"
git config user.name "Release Bot"
git config user.email bot@example.org
git config gpg.format ssh
git config user.signingkey "key::$(cat "$work/gitkey.pub")"
git config gpg.ssh.allowedSignersFile "$work/keyring/allowed_signers"
echo one >file
git add file
git commit -q -S -m "first" 2>"$work/err" || fail "git commit -S: $(cat "$work/err")"
git verify-commit HEAD 2>"$work/err" || fail "git verify-commit: $(cat "$work/err")"
grep -q 'Good "git" signature for gitkey' "$work/err" ||
    fail "verify-commit: $(cat "$work/err")"
[ "$(git log -1 --format=%G?)" = G ] || fail "git log shows $(git log -1 --format=%G?)"
echo "ok: git commit -S through the agent, git verify-commit with the keyring"

# git asks custodian-sign for the key: after a rotation it signs with the
# new version, with no change to its configuration, and the commits
# before and after verify, each against its own version's window.
git config --unset user.signingkey
git config gpg.ssh.defaultKeyCommand "$sign ssh-key --key gitkey"
"$ctl" export allowed-signers -c "$work/custodiand.conf" >"$work/signers" ||
    fail "export allowed-signers"
git config gpg.ssh.allowedSignersFile "$work/signers"
echo two >file
git commit -q -S -am "second" 2>"$work/err" || fail "git commit: $(cat "$work/err")"
sleep 1 # the version's window must span a second for allowed_signers
"$ctl" key rotate gitkey >/dev/null || fail "rotate gitkey"
echo three >file
git commit -q -S -am "third" 2>"$work/err" || fail "git commit: $(cat "$work/err")"
"$ctl" export allowed-signers -c "$work/custodiand.conf" >"$work/signers"
git verify-commit HEAD~1 2>/dev/null || fail "the commit before the rotation"
git verify-commit HEAD 2>/dev/null || fail "the commit after the rotation"
[ "$(git log -2 --format=%GK | sort -u | wc -l)" = 2 ] ||
    fail "both commits signed by one version: $(git log -2 --format=%GK)"
grep -q 'gitkey namespaces="git",valid-after="[0-9]*Z",valid-before="[0-9]*Z" ssh-ed25519 .* gitkey@1$' \
    "$work/signers" || fail "no window for gitkey@1: $(cat "$work/signers")"
echo "ok: a rotation between two commits; git picked the new version itself"

# A key whose grant leaves out the git namespace: git fails, and says so.
rc=0
git -c user.signingkey="key::$(cat "$work/p256.pub")" commit -q -S \
    --allow-empty -m "refused" 2>"$work/err" || rc=$?
[ $rc != 0 ] || fail "git signed with a key not granted the git namespace"
grep -qi "agent refused operation\|couldn't sign" "$work/err" ||
    fail "git's message: $(cat "$work/err")"
[ "$(grep -c '"key":"p256","decision":"deny".*"namespace":"git"' "$work/audit.log")" = 2 ] ||
    fail "git's refused signature not audited"
cd "$work"
echo "ok: git refused a signature outside the grant: $(grep -i refused "$work/err" | head -1)"

"$ctl" audit verify "$work/audit.log" >/dev/null || fail "audit chain broken"
kill "$pid"
wait "$pid" || fail "custodiand exited with $?"
pid=
echo "agent: all checks passed"
