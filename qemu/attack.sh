# shellcheck shell=bash
# The attacker of qemu/e2e-attacks.sh: functions that rewrite a machine
# directory M (M/disk.img, M/vars.fd, M/tpm/) while the machine is off, with
# host tools only (cryptsetup, systemd-cryptenroll, tpm2-tools, mkfs.ext4,
# sfdisk, dd, mtools) and what is public: the PCR public key, signatures,
# LUKS headers, PCR values, and this TPM's storage key (recreated from the
# seed in a COPY of the TPM state: whatever the attacker seals there, the
# machine's own TPM unseals). They cannot sign a UKI or read TPM secrets.
# No device-mapper on the host: encrypted filesystems are written with
# build/xts-encrypt (tests/tools/xts_encrypt.c).
# Source after lib.sh.

XTS=$ROOT/build/xts-encrypt

# attack_tools: build what the attacker's scripts need
attack_tools() {
	local src=$ROOT/tests/tools/xts_encrypt.c
	if [ ! -x "$XTS" ] || [ "$src" -nt "$XTS" ]; then
		mkdir -p "$ROOT/build"
		cc -O2 -Wall -Wextra -Werror -o "$XTS" "$src" -lcrypto
	fi
}

# part_field DISK N FIELD: start or size (512-byte sectors) of partition N
part_field() {
	sfdisk -J "$1" | jq -r ".partitiontable.partitions[$(($2 - 1))].$3"
}

# part_get DISK N OUT: partition N's bytes into OUT (sparse)
part_get() {
	dd if="$1" of="$3" bs=512 skip="$(part_field "$1" "$2" start)" count="$(part_field "$1" "$2" size)" \
		conv=sparse status=none
}

# part_put DISK N IMAGE: IMAGE becomes partition N's content (GPT untouched);
# the rest of the partition reads as zeros, the disk stays sparse
part_put() {
	local start size bytes
	start=$(part_field "$1" "$2" start)
	size=$(part_field "$1" "$2" size)
	bytes=$(stat -c %s "$3")
	[ "$bytes" -le $((size * 512)) ] || die "part_put: $3 is larger than partition $2"
	fallocate --punch-hole --offset $((start * 512)) --length $((size * 512)) "$1"
	dd if="$3" of="$1" bs=512 seek="$start" conv=notrunc,sparse status=none
}

# attacker_files DIR WHAT: the attacker's cloud-config and marker file
attacker_files() {
	mkdir -p "$1"
	printf 'attacker:%s\n' "$2" >"$1/attacker"
	cat >"$1/99_attacker.yaml" <<-'EOF'
	#cloud-config
	# the attacker's: runs as root at boot on a Kairos system
	stages:
	  boot:
	    - commands:
	        - echo attacker was here
	EOF
}

# plain_fs IMG BYTES LABEL [DIR]: an ext4 filesystem image labelled LABEL
plain_fs() {
	rm -f "$1" && truncate -s "$2" "$1"
	mkfs.ext4 -q -L "$3" ${4:+-d "$4"} "$1"
}

# attack_plaintext M N LABEL WHAT: partition N becomes a plaintext ext4
# labelled LABEL holding the attacker's files (GPT name kept)
attack_plaintext() {
	local m=$1 n=$2 t=$1/attack
	mkdir -p "$t"
	attacker_files "$t/files" "$4"
	plain_fs "$t/plain.img" $(($(part_field "$m/disk.img" "$n" size) * 512)) "$3" "$t/files"
	part_put "$m/disk.img" "$n" "$t/plain.img"
	rm -rf "$t"
}

# attack_stick M LABEL WHAT: M/stick.img, a plaintext ext4 "USB stick"
# labelled LABEL with the attacker's files, for qemu_boot --extra-disk
attack_stick() {
	local t=$1/attack
	mkdir -p "$t"
	attacker_files "$t/files" "$3"
	plain_fs "$1/stick.img" 16M "$2" "$t/files"
	rm -rf "$t"
}

# attack_unsigned_uki M UKI: an unsigned UKI on M's ESP where sd-boot looks:
# the vendor's signed UKI with its signature stripped and the attacker's
# kernel command line (a shell as init)
attack_unsigned_uki() {
	local t=$1/attack
	mkdir -p "$t"
	cp "$2" "$t/unsigned.efi"
	sbattach --remove "$t/unsigned.efi" 2>/dev/null	# its "gaps between sections" warning
	printf '%s' "console=ttyS0 root=LABEL=ROOT rw init=/bin/sh rd.kcrypt=0" >"$t/cmdline"
	objcopy --update-section .cmdline="$t/cmdline" "$t/unsigned.efi" "$t/attacker.efi"
	if sbverify --list "$t/attacker.efi" 2>&1 | grep -q 'signature [0-9]'; then
		die "attack_unsigned_uki: $t/attacker.efi still carries a signature"
	fi
	esp_put "$1/disk.img" "$t/attacker.efi" /EFI/Linux/kcrypt.efi
	rm -rf "$t"
}

# --- the attacker's TPM: a swtpm on a copy of the machine's TPM state -------

ATPM=
# atpm_up M: swtpm on a copy of M/tpm (the same storage seed), tpm2-tools
# pointed at it; M/tpm itself is never touched
atpm_up() {
	ATPM=$1/attack-tpm
	rm -rf "$ATPM" && mkdir -p "$ATPM/state"
	cp -a "$1"/tpm/tpm2-* "$ATPM/state/"
	swtpm socket --tpm2 --tpmstate "dir=$ATPM/state" \
		--server "type=unixio,path=$ATPM/sock" --ctrl "type=unixio,path=$ATPM/sock.ctrl" \
		--flags not-need-init,startup-clear --daemon --pid "file=$ATPM/pid" \
		--log "file=$ATPM/log,level=1"
	for _ in $(seq 50); do [ -S "$ATPM/sock" ] && break; sleep 0.05; done
	[ -S "$ATPM/sock" ] || die "the attacker's swtpm did not start ($ATPM)"
	export TPM2TOOLS_TCTI="swtpm:path=$ATPM/sock"
}

# atpm_down_keep M: shut the copy down orderly and make it M's TPM state
atpm_down_keep() {
	local pid
	pid=$(cat "$ATPM/pid")
	tpm2_shutdown -c >/dev/null 2>&1 || true
	kill "$pid" 2>/dev/null || true
	for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	cp -a "$ATPM"/state/tpm2-* "$1/tpm/"
	rm -rf "$ATPM"
	ATPM=
	unset TPM2TOOLS_TCTI
}

# atpm_down: orderly (TPM2_Shutdown first: no DA failure counted), then gone
atpm_down() {
	local pid
	[ -n "$ATPM" ] || return 0
	if [ -f "$ATPM/pid" ]; then
		pid=$(cat "$ATPM/pid")
		tpm2_shutdown -c >/dev/null 2>&1 || true
		kill "$pid" 2>/dev/null || true
		for _ in $(seq 100); do kill -0 "$pid" 2>/dev/null || break; sleep 0.05; done
	fi
	rm -rf "$ATPM"
	ATPM=
	unset TPM2TOOLS_TCTI
}

# seal_signed IMG PASSFILE: systemd-cryptenroll adds a systemd-tpm2 token
# sealed to the vendor's signed PCR 11 policy (public key, no literal PCRs)
seal_signed() {
	PASSWORD=$(cat "$2") systemd-cryptenroll --tpm2-device="$TPM2TOOLS_TCTI" --tpm2-pcrs= \
		--tpm2-public-key="$B/keys/pcr-pub.pem" --tpm2-public-key-pcrs=11 "$1" \
		>"$1.enroll.log" 2>&1 || { cat "$1.enroll.log" >&2; die "systemd-cryptenroll failed"; }
	tpm2_flushcontext -l >/dev/null 2>&1 || true
	tpm2_flushcontext -t >/dev/null 2>&1 || true
}

# seal_pcr7 IMG PASSFILE PCR7HEX: a systemd-tpm2 token bound to PCR 7 =
# PCR7HEX, made with tpm2-tools (the TPM copy's own PCR 7 is not the booted
# machine's, so systemd-cryptenroll cannot): policy from the value, sealed
# under systemd's legacy ECC primary, token JSON as systemd 252 writes it,
# keyslot = base64 of the secret (pbkdf2, sha512, 1000 iterations)
seal_pcr7() {
	local img=$1 t=$1.seal
	mkdir -p "$t"
	printf '%s' "$3" | xxd -r -p >"$t/pcr7.bin"
	[ "$(stat -c %s "$t/pcr7.bin")" = 32 ] || die "seal_pcr7: PCR 7 must be 64 hex digits: $3"
	tpm2_createpolicy --policy-pcr -l sha256:7 -f "$t/pcr7.bin" -L "$t/policy" >/dev/null
	tpm2_createprimary -Q -C o -g sha256 -G ecc256:aes128cfb \
		-a 'restricted|decrypt|fixedtpm|fixedparent|sensitivedataorigin|userwithauth' -c "$t/primary.ctx"
	head -c 32 /dev/urandom >"$t/secret"
	tpm2_create -Q -C "$t/primary.ctx" -g sha256 -a 'fixedtpm|fixedparent' -L "$t/policy" \
		-i "$t/secret" -u "$t/pub" -r "$t/priv"
	tpm2_flushcontext -t >/dev/null 2>&1 || true
	base64 -w0 "$t/secret" >"$t/pass"
	cryptsetup luksAddKey -q --pbkdf pbkdf2 --hash sha512 --pbkdf-force-iterations 1000 \
		--key-file "$2" --key-slot 1 "$img" "$t/pass"
	jq -cn --arg blob "$(cat "$t/priv" "$t/pub" | base64 -w0)" --arg pol "$(xxd -p -c 64 "$t/policy")" \
		'{type: "systemd-tpm2", keyslots: ["1"], "tpm2-blob": $blob, "tpm2-pcrs": [7],
		  "tpm2-pcr-bank": "sha256", "tpm2-primary-alg": "ecc", "tpm2-policy-hash": $pol,
		  "tpm2-pin": false}' >"$t/token.json"
	cryptsetup token import --token-id 0 --json-file "$t/token.json" "$img"
	rm -rf "$t"
}

# set_tokens IMG: the ids of IMG's kcrypt-set tokens (kcrypt's volume-set
# binding: public, in the header, only its maker's volume key unwraps it)
set_tokens() {
	cryptsetup luksDump --dump-json-metadata "$1" |
		jq -r '.tokens | to_entries[] | select(.value.type == "kcrypt-set") | .key'
}

# attack_strip_sets M N...: remove every kcrypt-set token from the headers
# of partitions N... (a machine whose set binding is gone)
attack_strip_sets() {
	local m=$1 t=$1/attack n id
	shift
	mkdir -p "$t"
	for n in "$@"; do
		part_get "$m/disk.img" "$n" "$t/part.img"
		for id in $(set_tokens "$t/part.img"); do
			cryptsetup token remove --token-id "$id" "$t/part.img"
			log "attack: partition $n: kcrypt-set token $id removed"
		done
		part_put "$m/disk.img" "$n" "$t/part.img"
	done
	rm -rf "$t"
}

# attack_swap M N WHAT signed|pcr7=HEX [copy-set]: partition N becomes the attacker's
# LUKS2 volume with the genuine LUKS2 label and UUID (read from the genuine
# header), aes-xts-plain64 with a volume key the attacker chose, a token
# sealed on the TPM copy, and inside an ext4 of theirs with the same label
# holding their files. copy-set: the genuine header's kcrypt-set tokens are
# copied into theirs too. Written without device-mapper: ext4 in a plain
# image, encrypted sector by sector with build/xts-encrypt at the data offset.
attack_swap() {
	local m=$1 n=$2 what=$3 policy=$4 copy=${5:-} t=$1/attack uuid label bytes off id f
	attack_tools
	rm -rf "$t" && mkdir -p "$t"
	part_get "$m/disk.img" "$n" "$t/genuine.img"
	uuid=$(cryptsetup luksUUID "$t/genuine.img")
	label=$(cryptsetup luksDump "$t/genuine.img" | sed -n 's/^Label:[[:space:]]*//p')
	{ [ -n "$uuid" ] && [ -n "$label" ]; } || die "attack_swap: no LUKS2 UUID/label on partition $n"
	bytes=$(stat -c %s "$t/genuine.img")
	if [ "$copy" = copy-set ]; then
		for id in $(set_tokens "$t/genuine.img"); do
			cryptsetup token export --token-id "$id" "$t/genuine.img" >"$t/set-$id.json"
		done
	fi
	rm -f "$t/genuine.img"
	# the attacker's key, and a passphrase of theirs for the first keyslot
	head -c 64 /dev/urandom >"$t/volume.key"
	head -c 32 /dev/urandom | base64 -w0 >"$t/pass"
	truncate -s "$bytes" "$t/luks.img"
	cryptsetup luksFormat -q --type luks2 --cipher aes-xts-plain64 --key-size 512 --sector-size 512 \
		--pbkdf pbkdf2 --hash sha512 --pbkdf-force-iterations 1000 --label "$label" --uuid "$uuid" \
		--volume-key-file "$t/volume.key" --key-file "$t/pass" "$t/luks.img"
	atpm_up "$m"
	trap atpm_down EXIT	# no swtpm left behind when a step fails
	case "$policy" in
	signed) seal_signed "$t/luks.img" "$t/pass" ;;
	pcr7=*) seal_pcr7 "$t/luks.img" "$t/pass" "${policy#pcr7=}" ;;
	*) die "attack_swap: policy signed or pcr7=HEX, not $policy" ;;
	esac
	atpm_down
	trap - EXIT
	for f in "$t"/set-*.json; do
		[ -e "$f" ] || continue
		cryptsetup token import --json-file "$f" "$t/luks.img"
		id=${f##*/set-}
		log "attack: partition $n: the genuine kcrypt-set token ${id%.json} copied"
	done
	off=$(cryptsetup luksDump --dump-json-metadata "$t/luks.img" | jq -r '.segments["0"].offset')
	attacker_files "$t/files" "$what"
	plain_fs "$t/plain.img" $((bytes - off)) "$label" "$t/files"
	"$XTS" "$t/volume.key" <"$t/plain.img" >"$t/cipher.img"
	dd if="$t/cipher.img" of="$t/luks.img" bs=1M seek="$off" oflag=seek_bytes conv=notrunc status=none
	part_put "$m/disk.img" "$n" "$t/luks.img"
	rm -rf "$t"
}
