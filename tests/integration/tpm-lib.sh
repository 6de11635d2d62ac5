# shellcheck shell=bash
# A real software TPM for the tests: swtpm on a unix socket in $T, reached
# through tpm2-tss's own swtpm TCTI (by kcrypt, tpm2-tools and systemd).

SWTPM_DIR=
TCTI=

# swtpm_start [extra swtpm args...]: (re)start on the same state; PCRs reset
swtpm_start() {
	swtpm_stop
	SWTPM_DIR=$T/swtpm
	mkdir -p "$SWTPM_DIR/state"
	rm -f "$SWTPM_DIR/sock" "$SWTPM_DIR/sock.ctrl"
	swtpm socket --tpm2 --tpmstate "dir=$SWTPM_DIR/state" \
		--server "type=unixio,path=$SWTPM_DIR/sock" \
		--ctrl "type=unixio,path=$SWTPM_DIR/sock.ctrl" \
		--flags not-need-init,startup-clear --daemon --pid "file=$SWTPM_DIR/pid" "$@"
	for _ in $(seq 50); do [ -S "$SWTPM_DIR/sock" ] && break; sleep 0.05; done
	TCTI="swtpm:path=$SWTPM_DIR/sock"
	export TPM2TOOLS_TCTI=$TCTI
}

swtpm_stop() {
	local pid
	if [ -n "$SWTPM_DIR" ] && [ -f "$SWTPM_DIR/pid" ]; then
		pid=$(cat "$SWTPM_DIR/pid")
		# orderly: a TPM killed without TPM2_Shutdown counts a failed
		# authorization at its next startup, and three mean DA lockout
		tpm2_shutdown -c >/dev/null 2>&1 || true
		kill "$pid" 2>/dev/null || true
		# swtpm removes its pid file itself; wait for the process
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
		rm -f "$SWTPM_DIR/pid"
	fi
}

# systemd 252 leaks a session per enrollment; a raw swtpm has 3 slots
tpm_flush() { tpm2_flushcontext -l >/dev/null 2>&1 || true; tpm2_flushcontext -t >/dev/null 2>&1 || true; }

# no transient objects or loaded sessions left behind
no_handles() {
	[ -z "$(tpm2_getcap handles-transient)" ] && [ -z "$(tpm2_getcap handles-loaded-session)" ]
}

sha() { sha256sum | cut -c1-64; }
pcr_extend() { tpm2_pcrextend "$1:sha256=$(printf '%s' "$2" | sha)"; }

# uki_sections DIR PUBKEY CMDLINE [SIZE]: the measured sections of a test UKI
# (random kernel and initrd of SIZE bytes, default 4 KiB)
uki_sections() {
	mkdir -p "$1"
	head -c "${4:-4096}" /dev/urandom >"$1/linux"
	printf 'ID=kairos\nVERSION_ID=%s\n' "$(basename "$1")" >"$1/osrel"
	printf '%s' "$3" >"$1/cmdline"
	head -c "${4:-4096}" /dev/urandom >"$1/initrd"
	cp "$2" "$1/pcrpkey"
}

# measure_uki DIR: extend PCR 11 the way systemd-stub 252 does for the
# sections in DIR (linux osrel cmdline initrd pcrpkey), then enter-initrd
measure_uki() {
	local s f
	for s in linux osrel cmdline initrd pcrpkey; do
		f=$1/$s
		[ -s "$f" ] || continue
		tpm2_pcrextend "11:sha256=$(printf '.%s\0' "$s" | sha)"
		tpm2_pcrextend "11:sha256=$(sha <"$f")"
	done
	tpm2_pcrextend "11:sha256=$(printf enter-initrd | sha)"
}

# sign_uki DIR PRIVKEY PUBKEY > json: systemd-measure's signature for DIR
sign_uki() {
	/usr/lib/systemd/systemd-measure sign --linux="$1/linux" --osrel="$1/osrel" \
		--cmdline="$1/cmdline" --initrd="$1/initrd" --pcrpkey="$1/pcrpkey" --bank=sha256 \
		--private-key="$2" --public-key="$3" --tpm2-device="$TCTI"
	tpm_flush
}
