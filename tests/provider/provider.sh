#!/bin/bash
# The OpenSSL provider in the real openssl command, against the real
# daemon on a throwaway SoftHSM2 token: pkeyutl and dgst for every key
# type, self-signed certificates from req -x509, CMS signed messages,
# openssl.cnf configuration with a namespace, policy refusals with their
# audit records, and programs that never use a custodian key left
# undisturbed. Every signature is checked by openssl without the provider,
# against the public key custodianctl exported. Then the C test.
# Usage: provider.sh CUSTODIAND CUSTODIANCTL PROVIDER_DIR TEST_PROVIDER
#        [PRELOAD]
# PRELOAD: libraries openssl must preload to host a sanitized provider.
set -euo pipefail
daemon=$(realpath "$1") ctl=$(realpath "$2") provdir=$(realpath "$3")
ctest=$(realpath "$4") preload=${5:-}
here=$(cd "$(dirname "$0")" && pwd)
. "$here/../lib/softhsm.sh"

work=$(mktemp -d)
pid=
cleanup() {
    local rc=$?
    set +e
    if [ -n "$pid" ] && kill "$pid" 2>/dev/null; then
        wait "$pid"
        st=$?
        [ $rc = 0 ] && [ $st != 0 ] && [ $st != 143 ] && {
            echo "FAIL: custodiand exited with $st" >&2
            grep -v ' info: ' "$work/daemon.log" >&2
            rc=1
        }
    fi
    rm -rf "$work"
    exit $rc
}
trap cleanup EXIT
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
         { name = "rsa3k"; type = "rsa-3072"; },
         { name = "rot"; type = "ecdsa-p256"; },
         { name = "release"; type = "ecdsa-p256"; },
         { name = "pubonly"; type = "ecdsa-p256"; },
         { name = "other"; type = "ecdsa-p256"; } );
listeners = { sign = { path = "$work/sign.sock"; };
              admin = { path = "$work/admin.sock"; }; };
admins = ( { name = "ops"; match = { uid = 0; }; } );
identities = ( { name = "root"; match = { uid = 0; };
                 grants = ( { keys = [ "p256", "p384", "ed", "rsa", "rsa3k",
                                     "rot" ]; },
                            { keys = "release"; namespaces = "release"; },
                            { keys = "pubonly";
                              operations = [ "pubkey" ]; } ); } );
audit = { path = "$work/audit.log"; };
state = "$work/keys.state";
keyring = "$work/keyring";
CONF
export CUSTODIAN_SOCKET=$work/sign.sock CUSTODIAN_ADMIN_SOCKET=$work/admin.sock

"$daemon" -c "$work/custodiand.conf" 2>"$work/daemon.log" &
pid=$!
for _ in $(seq 200); do
    [ -S "$work/admin.sock" ] && "$ctl" status >/dev/null 2>&1 && break
    kill -0 "$pid" 2>/dev/null || fail "custodiand exited at start"
    sleep 0.05
done
for k in p256 p384 ed rsa rsa3k rot release pubonly other; do
    "$ctl" key create $k >/dev/null || fail "key create $k"
    "$ctl" pubkey $k >"$work/$k.pub.pem" || fail "pubkey $k"
done

# The module exports its entry point and nothing else.
exports=$(nm -D --defined-only "$provdir/custodian.so" | awk '{ print $3 }')
[ "$exports" = OSSL_provider_init ] ||
    fail "custodian.so exports more than OSSL_provider_init: $exports"

# openssl with the provider, default first (see docs/openssl.md); and
# openssl alone, which checks what the first one made.
P=(-provider-path "$provdir" -provider default -provider custodian)
ossl() { LD_PRELOAD=$preload openssl "$@"; }
echo "an artifact $RANDOM" >"$work/data"
openssl dgst -sha256 -binary "$work/data" >"$work/data.sha256"
openssl dgst -sha384 -binary "$work/data" >"$work/data.sha384"
cd "$work"

# pkeyutl: the pre-hashed path (and -rawin for Ed25519).
for k in p256:sha256 p384:sha384 rsa:sha256 rsa3k:sha384; do
    key=${k%:*} md=${k#*:}
    ossl pkeyutl -sign "${P[@]}" -inkey "custodian:$key" -pkeyopt \
        "digest:$md" -in "data.$md" -out "$key.pk.sig" 2>err ||
        fail "pkeyutl $key: $(cat err)"
    openssl pkeyutl -verify -pubin -inkey "$key.pub.pem" -pkeyopt \
        "digest:$md" -in "data.$md" -sigfile "$key.pk.sig" >/dev/null ||
        fail "pkeyutl $key: the signature does not verify"
done
ossl pkeyutl -sign "${P[@]}" -inkey custodian:rsa -pkeyopt digest:sha384 \
    -pkeyopt rsa_padding_mode:pss -in data.sha384 -out pss.pk.sig 2>err ||
    fail "pkeyutl rsa-pss: $(cat err)"
openssl pkeyutl -verify -pubin -inkey rsa.pub.pem -pkeyopt digest:sha384 \
    -pkeyopt rsa_padding_mode:pss -pkeyopt rsa_pss_saltlen:digest \
    -in data.sha384 -sigfile pss.pk.sig >/dev/null ||
    fail "pkeyutl rsa-pss: the signature does not verify"
ossl pkeyutl -sign "${P[@]}" -rawin -inkey custodian:ed -in data \
    -out ed.pk.sig 2>err || fail "pkeyutl ed: $(cat err)"
openssl pkeyutl -verify -pubin -rawin -inkey ed.pub.pem -in data \
    -sigfile ed.pk.sig >/dev/null || fail "pkeyutl ed: does not verify"
echo "ok: openssl pkeyutl -sign, every key type, verified"

# dgst: the digest-sign path (OpenSSL 3.0's dgst has no Ed25519).
for k in p256:sha256 p384:sha256 p384:sha512 rsa:sha256 rsa3k:sha512; do
    key=${k%:*} md=${k#*:}
    ossl dgst "-$md" -sign "custodian:$key" "${P[@]}" -out "$key.d.sig" \
        data 2>err || fail "dgst $key: $(cat err)"
    openssl dgst "-$md" -verify "$key.pub.pem" -signature "$key.d.sig" \
        data >/dev/null || fail "dgst $key: the signature does not verify"
done
ossl dgst -sha256 -sign custodian:rsa "${P[@]}" -sigopt \
    rsa_padding_mode:pss -out pss.d.sig data 2>err ||
    fail "dgst rsa-pss: $(cat err)"
openssl dgst -sha256 -verify rsa.pub.pem -sigopt rsa_padding_mode:pss \
    -sigopt rsa_pss_saltlen:digest -signature pss.d.sig data >/dev/null ||
    fail "dgst rsa-pss: the signature does not verify"
# The other order of providers signs as well.
ossl dgst -sha256 -sign custodian:p256 -provider-path "$provdir" \
    -provider custodian -provider default -out order.sig data 2>err ||
    fail "dgst, custodian loaded first: $(cat err)"
openssl dgst -sha256 -verify p256.pub.pem -signature order.sig data \
    >/dev/null || fail "dgst, custodian loaded first: does not verify"
# The key opened for its public half verifies, as any public key does.
ossl dgst -sha256 -verify custodian:p256 "${P[@]}" -signature p256.d.sig \
    data >/dev/null 2>err || fail "dgst -verify custodian:p256: $(cat err)"
echo "ok: openssl dgst -sign, verified; dgst -verify with custodian:NAME"

# req -x509: a certificate for the key, signed by it.
for k in p256 p384 ed rsa rsa:pss; do
    key=${k%:*} opt=()
    [ "$k" = rsa:pss ] && opt=(-sigopt rsa_padding_mode:pss)
    ossl req -new -x509 "${P[@]}" -key "custodian:$key" "${opt[@]}" \
        -subj "/CN=$key" -days 30 -out "${k/:/-}.crt" 2>err ||
        fail "req -x509 $k: $(cat err)"
    openssl verify -CAfile "${k/:/-}.crt" "${k/:/-}.crt" >/dev/null 2>&1 ||
        fail "req -x509 $k: the certificate's signature does not verify"
    openssl x509 -in "${k/:/-}.crt" -pubkey -noout | cmp -s - "$key.pub.pem" ||
        fail "req -x509 $k: the certificate holds another key"
done
openssl x509 -in rsa-pss.crt -noout -text |
    grep -q "Signature Algorithm: rsassaPss" ||
    fail "req -x509 rsa:pss: not an RSA-PSS certificate"

# A request, and a certificate issued by a custodian key as CA.
ossl req -new "${P[@]}" -key custodian:p384 -subj /CN=request -out req.pem \
    2>err || fail "req -new: $(cat err)"
openssl req -verify -in req.pem -noout >/dev/null 2>&1 ||
    fail "req -new: the request's signature does not verify"
openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out leaf.pem
openssl req -new -key leaf.pem -subj /CN=leaf -out leaf.csr
ossl x509 -req "${P[@]}" -in leaf.csr -CA p256.crt -CAkey custodian:p256 \
    -set_serial 7 -days 10 -out leaf.crt 2>err || fail "x509 -req: $(cat err)"
openssl verify -CAfile p256.crt leaf.crt >/dev/null ||
    fail "x509 -req: the issued certificate does not verify"
echo "ok: openssl req -x509, req -new and x509 -req, verified"

# The public key is there to read; the private key is not.
ossl pkey "${P[@]}" -in custodian:rsa -pubout | cmp -s - rsa.pub.pem ||
    fail "pkey -pubout: not the exported public key"
rc=0
ossl pkey "${P[@]}" -in custodian:rsa >pkey.out 2>&1 || rc=$?
[ $rc != 0 ] && ! grep -q "PRIVATE KEY" pkey.out ||
    fail "openssl pkey wrote out a private key: $(cat pkey.out)"
echo "ok: the public key reads out, the private key does not"

# cms -sign (OpenSSL 3.0's CMS cannot sign with Ed25519 keys at all).
for k in p256 p384 rsa rsa:pss; do
    key=${k%:*} opt=()
    [ "$k" = rsa:pss ] && opt=(-keyopt rsa_padding_mode:pss)
    ossl cms -sign "${P[@]}" -in data -signer "${k/:/-}.crt" \
        -inkey "custodian:$key" "${opt[@]}" -binary -outform DER \
        -out "${k/:/-}.cms" 2>err || fail "cms -sign $k: $(cat err)"
    openssl cms -verify -in "${k/:/-}.cms" -inform DER -CAfile "${k/:/-}.crt" \
        -binary -content data -out /dev/null 2>err ||
        fail "cms -verify $k: $(cat err)"
done
echo "ok: openssl cms -sign, verified by cms -verify"

# The provider from openssl.cnf: default and custodian, the namespace set
# there; the grant for "release" asks for it.
cat >openssl.cnf <<CNF
openssl_conf = init
[init]
providers = providers
[providers]
default = default_sect
custodian = custodian_sect
[default_sect]
activate = 1
[custodian_sect]
module = $provdir/custodian.so
socket = $work/sign.sock
namespace = release
activate = 1
CNF
CUSTODIAN_SOCKET=/nonexistent OPENSSL_CONF=$work/openssl.cnf \
    ossl dgst -sha256 -sign custodian:release -out cnf.sig data 2>err ||
    fail "openssl.cnf: $(cat err)"
openssl dgst -sha256 -verify release.pub.pem -signature cnf.sig data \
    >/dev/null || fail "openssl.cnf: the signature does not verify"
grep -q '"key":"release","decision":"allow".*"namespace":"release"' \
    audit.log || fail "the configured namespace is not in the audit record"
# Without it the grant refuses; -sigopt names it for one command.
rc=0
ossl dgst -sha256 -sign custodian:release "${P[@]}" -out /dev/null data \
    2>err || rc=$?
[ $rc = 1 ] && grep -q "custodian:.*denied by policy" err ||
    fail "signed for a namespace the grant lacks: $(cat err)"
ossl dgst -sha256 -sign custodian:release "${P[@]}" -sigopt \
    namespace:release -out /dev/null data 2>err || fail "-sigopt: $(cat err)"
echo "ok: openssl.cnf, and the namespace from it or from -sigopt"

# Refusals: OpenSSL's error names custodian's reason, and the daemon
# audits them.
rc=0
ossl pkeyutl -sign "${P[@]}" -inkey custodian:other -pkeyopt digest:sha256 \
    -in data.sha256 -out /dev/null 2>err || rc=$?
[ $rc = 1 ] || fail "an ungranted key was used"
want='denied by policy.*no grant of "root" allows pubkey of key "other"'
grep -q "custodian:.*$want" err ||
    fail "the refusal is not named: $(cat err)"
want='"key":"other","decision":"deny","error":"CUST_ERR_DENIED"'
grep -q "\"event\":\"pubkey\".*$want" audit.log ||
    fail "the refusal is not audited"
rc=0
ossl dgst -sha256 -sign custodian:pubonly "${P[@]}" -out /dev/null data \
    2>err || rc=$?
[ $rc = 1 ] && grep -q "custodiand refused a signature" err ||
    fail "signed with a public-key-only grant: $(cat err)"
grep -q '"event":"sign".*"key":"pubonly","decision":"deny"' audit.log ||
    fail "the signing refusal is not audited"
echo "ok: policy refusals reach OpenSSL's error queue, and are audited"

# A daemon that is not there, and one that does not answer.
rc=0
CUSTODIAN_SOCKET=$work/none.sock ossl dgst -sha256 -sign custodian:p256 \
    "${P[@]}" -out /dev/null data 2>err || rc=$?
[ $rc = 1 ] &&
    grep -q "cannot reach custodiand at $work/none.sock: No such file" err ||
    fail "daemon down: $(cat err)"
sed 's/^namespace = release$/timeout = 1/' openssl.cnf >stalled.cnf
kill -STOP "$pid"
rc=0
OPENSSL_CONF=$work/stalled.cnf LD_PRELOAD=$preload timeout 20 openssl dgst \
    -sha256 -sign custodian:p256 -out /dev/null data 2>err || rc=$?
kill -CONT "$pid"
[ $rc = 1 ] && grep -q "did not answer within 1 s" err ||
    fail "a stalled daemon: rc $rc, $(cat err)"
echo "ok: a daemon down or stalled is named, and nothing waits for ever"

# With the provider loaded, openssl still makes and uses its own keys.
ossl genpkey "${P[@]}" -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
    -out own.pem 2>err || fail "genpkey with the provider: $(cat err)"
ossl dgst -sha256 -sign own.pem "${P[@]}" -out own.sig data 2>err ||
    fail "a file key with the provider: $(cat err)"
ossl dgst -sha256 -verify p256.pub.pem "${P[@]}" -signature p256.d.sig \
    data >/dev/null 2>err || fail "verify with the provider: $(cat err)"
echo "ok: other keys are untouched by the provider"

cd - >/dev/null
# One process: the providers are loaded once, as a program would.
CK_FORK=no CUST_TEST_PROVIDERS=$provdir CUST_TEST_OUT=$work "$ctest" ||
    fail "the C test failed"
kill -0 "$pid" 2>/dev/null || fail "custodiand died"
