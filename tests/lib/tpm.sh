# A throwaway software TPM with a tpm2-pkcs11 token, for tests. Source
# this file.
#
#   tpm_start DIR LABEL   starts swtpm on free loopback ports with state in
#                         DIR, a private D-Bus and tpm2-abrmd in front of
#                         it, creates token LABEL with user PIN in DIR/pin,
#                         and exports TPM_MODULE, TPM_URI, TPM_PIN_FILE and
#                         the TCTI variables tpm2-pkcs11 and tpm2-tools use
#   tpm_stop              stops all of it, shutting the TPM down in order
#                         (a TPM killed without a shutdown counts that
#                         against its dictionary-attack limit)
#
# The resource manager is what a real machine has (the kernel's
# /dev/tpmrm0): without one, tpm2-pkcs11 leaves objects loaded in the TPM
# after each use and the third key a process touches fails.

TPM_MODULE=/usr/lib/x86_64-linux-gnu/pkcs11/libtpm2_pkcs11.so

# Starts swtpm on the first free even port from a random start.
tpm_swtpm() {
    local dir=$1 port tries=0
    while :; do
        port=$((20000 + (RANDOM % 10000) * 2))
        if swtpm socket --tpm2 --tpmstate dir="$dir/state" \
            --server type=tcp,port=$port,bindaddr=127.0.0.1 \
            --ctrl type=tcp,port=$((port + 1)),bindaddr=127.0.0.1 \
            --flags not-need-init,startup-clear \
            --pid file="$dir/swtpm.pid" --daemon 2>"$dir/swtpm.err"; then
            TPM_PORT=$port
            TPM_DIRECT_TCTI=swtpm:host=127.0.0.1,port=$port
            return 0
        fi
        tries=$((tries + 1))
        if [ $tries -ge 10 ]; then
            cat "$dir/swtpm.err" >&2
            return 1
        fi
    done
}

# Starts a private session bus and tpm2-abrmd on it.
tpm_abrmd() {
    local dir=$1 name=com.intel.tss2.Tabrmd.custodian$$ i
    dbus-daemon --session --fork --print-address=3 --print-pid=4 \
        3>"$dir/dbus.addr" 4>"$dir/dbus.pid"
    export DBUS_SESSION_BUS_ADDRESS=$(cat "$dir/dbus.addr")
    tpm2-abrmd --session --allow-root --flush-all --dbus-name=$name \
        --tcti="$TPM_DIRECT_TCTI" >"$dir/abrmd.log" 2>&1 &
    TPM_ABRMD_PID=$!
    export TPM2TOOLS_TCTI=tabrmd:bus_type=session,bus_name=$name
    export TPM2_PKCS11_TCTI=$TPM2TOOLS_TCTI
    for i in $(seq 50); do
        tpm2_getcap properties-fixed >/dev/null 2>&1 && return 0
        sleep 0.1
    done
    echo "tpm2-abrmd did not come up:" >&2
    cat "$dir/abrmd.log" >&2
    return 1
}

tpm_start() {
    local dir=$1 label=$2
    mkdir -p "$dir/state" "$dir/store"
    TPM_DIR=$dir
    tpm_swtpm "$dir" || return 1
    tpm_abrmd "$dir" || return 1
    export TPM2_PKCS11_STORE=$dir/store
    export TPM2_PKCS11_LOG_LEVEL=0
    # A test TPM only: never lock out, whatever the tests do to the PIN.
    tpm2_dictionarylockout --setup-parameters --max-tries=4294967295 \
        --recovery-time=0 --lockout-recovery-time=0 >/dev/null
    pkcs11-tool --module "$TPM_MODULE" --init-token --label "$label" \
        --so-pin 5678 >/dev/null 2>&1
    pkcs11-tool --module "$TPM_MODULE" --token-label "$label" --login \
        --login-type so --so-pin 5678 --init-pin --pin 1234 >/dev/null 2>&1
    (umask 077 && printf '1234\n' >"$dir/pin")
    export TPM_MODULE TPM_URI="pkcs11:token=$label" TPM_PIN_FILE=$dir/pin
}

tpm_stop() {
    [ -n "${TPM_PORT:-}" ] || return 0
    if [ -n "${TPM_ABRMD_PID:-}" ]; then
        kill "$TPM_ABRMD_PID" 2>/dev/null || true
        wait "$TPM_ABRMD_PID" 2>/dev/null || true
    fi
    TPM2TOOLS_TCTI=$TPM_DIRECT_TCTI tpm2_shutdown -c >/dev/null 2>&1 || true
    swtpm_ioctl --tcp 127.0.0.1:$((TPM_PORT + 1)) -s >/dev/null 2>&1 || true
    [ -f "$TPM_DIR/dbus.pid" ] && kill "$(cat "$TPM_DIR/dbus.pid")" 2>/dev/null
    TPM_PORT=
}
