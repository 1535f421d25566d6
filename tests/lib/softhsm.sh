# Throwaway SoftHSM2 tokens, for tests and the demo. Source this file.
#
#   softhsm_token DIR LABEL [PIN]
#                             creates DIR/softhsm2.conf and a token LABEL
#                             with user PIN (default 1234) in DIR/pin
#                             (mode 0600) and exports SOFTHSM2_CONF,
#                             SOFTHSM_MODULE, SOFTHSM_URI, SOFTHSM_PIN_FILE.

SOFTHSM_MODULE=/usr/lib/softhsm/libsofthsm2.so

softhsm_token() {
    local dir=$1 label=$2 pin=${3:-1234}
    mkdir -p "$dir/tokens"
    printf 'directories.tokendir = %s/tokens\nobjectstore.backend = file\nlog.level = ERROR\n' \
        "$dir" >"$dir/softhsm2.conf"
    export SOFTHSM2_CONF=$dir/softhsm2.conf
    # The PIN is throwaway test material; a real PIN file is made by hand.
    (umask 077 && printf '%s\n' "$pin" >"$dir/pin")
    softhsm2-util --init-token --free --label "$label" \
        --pin "$pin" --so-pin 5678 >/dev/null
    export SOFTHSM_MODULE
    export SOFTHSM_URI="pkcs11:token=$label"
    export SOFTHSM_PIN_FILE=$dir/pin
}
