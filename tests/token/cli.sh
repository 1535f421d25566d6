#!/bin/bash
# custodian-token from the command line: every signature it makes is
# checked by the openssl command, every OpenSSH key line by ssh-keygen.
# Usage: cli.sh CUSTODIAN_TOKEN WORKDIR "TYPES" "UNSUPPORTED TYPES"
# The token comes from CUST_TEST_MODULE, CUST_TEST_URI, CUST_TEST_PIN_FILE.
# CLI_BETWEEN, if set, is run after each command (to clean a TPM).
set -euo pipefail
tool=$1 work=$2 types=$3 unsupported=$4
mkdir -p "$work"

ct() {
    local rc=0
    "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
        -p "$CUST_TEST_PIN_FILE" "$@" || rc=$?
    ${CLI_BETWEEN:-true} >/dev/null 2>&1 || true
    return $rc
}

fail() {
    echo "FAIL: $*" >&2
    exit 1
}

expect_status() { # expect_status STATUS COMMAND...
    local want=$1 rc=0
    shift
    "$@" >"$work/out" 2>"$work/err" || rc=$?
    [ "$rc" = "$want" ] ||
        fail "$* exited $rc, expected $want: $(cat "$work/err")"
}

# The artifact: a real file of some size, and a tampered copy.
head -c 300000 /dev/urandom >"$work/artifact"
cp "$work/artifact" "$work/tampered"
printf 'x' >>"$work/tampered"

verify_openssl() { # verify_openssl TYPE PEM SIG FILE [SCHEME DIGEST]
    local type=$1 pem=$2 sig=$3 file=$4 scheme=${5:-} md=${6:-sha256}
    case $type in
    ed25519)
        openssl pkeyutl -verify -pubin -inkey "$pem" -rawin -in "$file" \
            -sigfile "$sig" >/dev/null 2>&1 ;;
    *)
        if [ "$scheme" = rsa-pss ]; then
            local salt
            salt=$(( ${md#sha} / 8 ))
            openssl dgst "-$md" -verify "$pem" -sigopt rsa_padding_mode:pss \
                -sigopt "rsa_pss_saltlen:$salt" -sigopt "rsa_mgf1_md:$md" \
                -signature "$sig" "$file" >/dev/null 2>&1
        else
            openssl dgst "-$md" -verify "$pem" -signature "$sig" \
                "$file" >/dev/null 2>&1
        fi ;;
    esac
}

check_ssh_line() { # check_ssh_line TYPE PEM SSHFILE
    local type=$1 pem=$2 ssh=$3 want got
    ssh-keygen -l -f "$ssh" >/dev/null || fail "ssh-keygen cannot read $ssh"
    got=$(cut -d' ' -f1-2 "$ssh")
    if [ "$type" = ed25519 ]; then
        # ssh-keygen cannot convert Ed25519 SPKI: compare the raw key.
        want=$(openssl pkey -pubin -in "$pem" -outform DER | tail -c 32 | od -An -tx1 | tr -d " \n")
        [ "$(cut -d' ' -f2 "$ssh" | base64 -d | tail -c 32 | od -An -tx1 | tr -d " \n")" = "$want" ] ||
            fail "$type: OpenSSH key differs from the SPKI key"
    else
        want=$(ssh-keygen -i -m PKCS8 -f "$pem" | cut -d' ' -f1-2)
        [ "$got" = "$want" ] || fail "$type: OpenSSH line differs from ssh-keygen's"
    fi
}

for type in $types; do
    label="cli-$type-$$"
    ct generate "$type" "$label" >"$work/gen" || fail "generate $type"
    grep -q "generated $type key \"$label\"" "$work/gen" ||
        fail "generate $type printed: $(cat "$work/gen")"
    expect_status 1 ct generate "$type" "$label"
    grep -q "key already exists" "$work/err" || fail "duplicate label not named"

    ct pubkey "$label" -o "$work/$type.pem"
    ct pubkey "$label" -f der -o "$work/$type.der"
    ct pubkey "$label" -f ssh >"$work/$type.ssh"
    cmp -s <(openssl pkey -pubin -in "$work/$type.pem" -outform DER) \
        "$work/$type.der" || fail "$type: DER and PEM differ"
    check_ssh_line "$type" "$work/$type.pem" "$work/$type.ssh"

    ct sign "$label" -i "$work/artifact" -o "$work/$type.sig"
    verify_openssl "$type" "$work/$type.pem" "$work/$type.sig" \
        "$work/artifact" || fail "$type: openssl rejects the signature"
    ! verify_openssl "$type" "$work/$type.pem" "$work/$type.sig" \
        "$work/tampered" || fail "$type: signature verifies a tampered file"
    echo "ok: $type signature verified by openssl"

    case $type in
    ed25519)
        expect_status 1 ct sign "$label" -d sha512 -i "$work/artifact" \
            -o "$work/x"
        grep -q "takes no digest" "$work/err" || fail "ed25519 -d accepted" ;;
    rsa-*)
        ct sign "$label" -s rsa-pss -d sha384 -i "$work/artifact" \
            -o "$work/$type.pss"
        verify_openssl "$type" "$work/$type.pem" "$work/$type.pss" \
            "$work/artifact" rsa-pss sha384 ||
            fail "$type: openssl rejects the PSS signature"
        echo "ok: $type rsa-pss/sha384 signature verified by openssl" ;;
    ecdsa-*)
        ct sign "$label" -d sha512 -i "$work/artifact" -o "$work/$type.512"
        verify_openssl "$type" "$work/$type.pem" "$work/$type.512" \
            "$work/artifact" ecdsa sha512 ||
            fail "$type: openssl rejects the sha512 signature"
        echo "ok: $type ecdsa/sha512 signature verified by openssl" ;;
    esac
done

# The listing names each key and the verdict of the custody check.
ct list >"$work/list"
for type in $types; do
    grep -Eq "^$type +[0-9a-f.]+ +ok +cli-$type-$$\$" "$work/list" ||
        fail "list does not show cli-$type-$$ as ok: $(cat "$work/list")"
done
echo "ok: list"

# A key imported from outside was not generated on the token: refused.
if [ -n "${CLI_IMPORT:-}" ]; then
    openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 \
        -outform DER -out "$work/outside.der" 2>/dev/null
    pkcs11-tool --module "$CUST_TEST_MODULE" --token-label "${CUST_TEST_URI#pkcs11:token=}" \
        --login --pin "$(cat "$CUST_TEST_PIN_FILE")" --write-object "$work/outside.der" \
        --type privkey --label imported-$$ --id 0102 >/dev/null 2>&1 ||
        fail "pkcs11-tool could not import a key"
    expect_status 1 ct sign "imported-$$" -i "$work/artifact" -o "$work/x"
    grep -q "not confined to the token" "$work/err" ||
        fail "imported key not refused: $(cat "$work/err")"
    grep -q "CKA_LOCAL is not true\|CKA_ALWAYS_SENSITIVE is not true\|CKA_NEVER_EXTRACTABLE is not true" "$work/err" ||
        fail "refusal does not name the attribute: $(cat "$work/err")"
    ct list >"$work/list"
    grep -Eq "CUST_ERR_KEY_UNSAFE +imported-$$\$" "$work/list" ||
        fail "list does not flag the imported key"
    echo "ok: imported key refused"

    # A key made on the token for key agreement as well as signing is
    # refused too: custodian's keys sign and do nothing else.
    pkcs11-tool --module "$CUST_TEST_MODULE" --token-label "${CUST_TEST_URI#pkcs11:token=}" \
        --login --pin "$(cat "$CUST_TEST_PIN_FILE")" --keypairgen \
        --key-type EC:prime256v1 --usage-sign --usage-derive \
        --label derive-$$ --id 0103 >/dev/null 2>&1 ||
        fail "pkcs11-tool could not make a key pair"
    expect_status 1 ct sign "derive-$$" -i "$work/artifact" -o "$work/x"
    grep -Eq "CKA_(DECRYPT|UNWRAP|DERIVE) is not false" "$work/err" ||
        fail "a deriving key is not refused: $(cat "$work/err")"
    echo "ok: a key that can also derive refused"
fi

for type in $unsupported; do
    expect_status 3 ct generate "$type" "cli-unsupported-$type"
    grep -q "not supported by this token" "$work/err" ||
        fail "$type: no 'not supported' message: $(cat "$work/err")"
    echo "ok: $type reported as not supported"
done

# Refusals a script can rely on.
expect_status 2 "$tool" --no-such-option
expect_status 2 ct sign some-label -d sha1 -i "$work/artifact" -o "$work/x"
grep -q "refused digest" "$work/err" || fail "sha1 not refused by name"
expect_status 1 ct pubkey "no-such-key-$$"
grep -q "key not found" "$work/err" || fail "missing key not named"
(umask 077 && printf '0000\n' >"$work/badpin")
# Usage errors are caught before the token sees any PIN, even a wrong one.
expect_status 2 "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
    -p "$work/badpin" generate ecdsa-p521 x
grep -q "unknown key type: ecdsa-p521" "$work/err" || fail "bad type not named"
expect_status 2 "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
    -p "$work/badpin" sign some-label -i "$work/artifact"
expect_status 2 "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
    -p "$work/badpin" info -f der
expect_status 2 "$tool" list -m "$CUST_TEST_MODULE"
grep -q "go before the command" "$work/err" || fail "misplaced option not named"
expect_status 1 "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
    -p "$work/badpin" info
grep -q "CKR_PIN_INCORRECT" "$work/err" || fail "wrong PIN not named"
${CLI_BETWEEN:-true} >/dev/null 2>&1 || true
chmod 644 "$work/badpin"
expect_status 1 "$tool" -m "$CUST_TEST_MODULE" -t "$CUST_TEST_URI" \
    -p "$work/badpin" info
grep -q "readable or writable by others" "$work/err" ||
    fail "loose PIN file mode not named"
echo "ok: refusals"

# The PIN from a systemd credential, as a service with LoadCredential= has.
mkdir -p "$work/creds"
(umask 077 && cp "$CUST_TEST_PIN_FILE" "$work/creds/token-pin")
CREDENTIALS_DIRECTORY=$work/creds "$tool" -m "$CUST_TEST_MODULE" \
    -t "$CUST_TEST_URI" -C token-pin info >"$work/out" ||
    fail "login with a credential failed"
grep -q '^label: ' "$work/out" || fail "info printed no label"
expect_status 1 env -u CREDENTIALS_DIRECTORY "$tool" -m "$CUST_TEST_MODULE" \
    -t "$CUST_TEST_URI" -C token-pin info
grep -q "CREDENTIALS_DIRECTORY is not set" "$work/err" ||
    fail "missing credential directory not named"
echo "ok: PIN from a systemd credential"
