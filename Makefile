# kcrypt: unlock LUKS2 volumes in the initramfs.
# `make` builds ./kcrypt; `make test` runs every suite CI runs.

VERSION  := 0.1.0
PREFIX   ?= /usr
DESTDIR  ?=
DRACUTDIR ?= /usr/lib/dracut/modules.d
BUILD    ?= build
CC       ?= cc
PKGS     := libcryptsetup devmapper blkid yaml-0.1 json-c libcrypto tss2-esys tss2-sys tss2-mu tss2-rc \
            tss2-tcti-device tss2-tcti-swtpm tss2-tcti-mssim

# make static: the initrd's binary, linked against archives built from Debian
# sources (initrd/static/deps.sh) into build/static/prefix; STATIC=1 is the
# inner make of that target
STATIC_DIR := build/static
SP       := $(abspath $(STATIC_DIR)/prefix)
ifeq ($(STATIC),1)
PKGCONF  := PKG_CONFIG_PATH=$(SP)/lib/pkgconfig pkg-config --static
LDFLAGS  += -static -Wl,--gc-sections -Wl,--wrap=OSSL_PROVIDER_try_load -Wl,-Map=$(BUILD)/kcrypt.map
STATIC_OBJS := $(BUILD)/static_ossl.o
else
PKGCONF  := pkg-config
endif

WARN     := -Wall -Wextra -Werror -Wformat-security -Wwrite-strings -Wshadow
CFLAGS   ?= -O2 -g
CFLAGS   += -std=gnu11 -D_GNU_SOURCE -DKCRYPT_VERSION='"$(VERSION)"' $(WARN) \
            -fstack-protector-strong -D_FORTIFY_SOURCE=2 $(shell $(PKGCONF) --cflags $(PKGS))
LDLIBS   += $(shell $(PKGCONF) --libs $(PKGS))
ifeq ($(STATIC),1)
CFLAGS   += -ffunction-sections -fdata-sections
endif
ifeq ($(SANITIZE),1)
CFLAGS   := $(filter-out -D_FORTIFY_SOURCE=2,$(CFLAGS)) -O1 -fsanitize=address,undefined -fno-omit-frame-pointer -fno-sanitize-recover=all
LDFLAGS  += -fsanitize=address,undefined
endif

# Modules of the binary; cli*.c (argv, the verbs, main()) only link into it.
MODS     := log secret strv yamltree config config_load identity discover plan \
            luks_hdr luks luks_write recovery reseal prompt rescue files codec token policy pcrsig tpm2 keysource keysource_tpm2 \
            unlock report enroll measure encrypt vset trust runall setkey bind tcti tpm2_unseal tpm2_pcr tpm2_seal tpm2_srk dmkey \
            pe uki ukicheck sdver
OBJS     := $(MODS:%=$(BUILD)/%.o)
CLI_OBJS := $(BUILD)/cli.o $(BUILD)/cli_common.o $(BUILD)/cli_reseal.o $(BUILD)/cli_unlock.o $(BUILD)/cli_enroll.o \
            $(BUILD)/cli_checkuki.o $(BUILD)/cli_version.o
BIN      := $(if $(filter build,$(BUILD)),kcrypt,$(BUILD)/kcrypt)

# One cmocka program per pure module, linked with the modules it needs.
UNITS    := config identity plan token pcrsig measure vset uki ukicheck sdver
UNIT_BIN := $(UNITS:%=$(BUILD)/test_%)

.PHONY: all clean distclean install static static-versions check-static test check check-unit check-integration check-asan \
        check-valgrind fuzz fuzz-short fuzz-long lint demo demo-host setup bench bench-boot qemu e2e \
        e2e-attacks e2e-matrix e2e-recovery

all: $(BIN)

# kcrypt --version -v names what was linked in
$(BUILD)/cli_version.o: CFLAGS += -DKCRYPT_LINKAGE='"$(if $(filter 1,$(STATIC)),static,dynamic)"' \
	-DKCRYPT_LINKED='"$(shell $(PKGCONF) --modversion $(PKGS) | paste -sd' ' | \
	awk -v n="$(PKGS)" '{ split(n, a, " "); for (i = 1; i <= NF; i++) printf "%s%s %s", (i > 1 ? ", " : ""), a[i], $$i }')"'

$(BUILD)/%.o: unlock/%.c unlock/*.h | $(BUILD)
	$(CC) $(CFLAGS) -c -o $@ $<

$(BUILD):
	mkdir -p $@

$(BIN): $(OBJS) $(CLI_OBJS) $(STATIC_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

ifeq ($(STATIC),1)
$(OBJS) $(CLI_OBJS) $(STATIC_OBJS): $(SP)/.stamp
endif

# the dependency cache: rebuilt when initrd/static/versions (or the script) changes
$(SP)/.stamp: initrd/static/versions initrd/static/deps.sh
	sh initrd/static/deps.sh $(abspath $(STATIC_DIR))

static: $(SP)/.stamp
	$(MAKE) --no-print-directory BUILD=$(STATIC_DIR)/obj STATIC=1 $(STATIC_DIR)/obj/kcrypt
	strip -o $(STATIC_DIR)/kcrypt $(STATIC_DIR)/obj/kcrypt

# every library linked into the static binary, with its Debian package and
# version: what a security update would call for rebuilding
static-versions: static
	sh initrd/static/linked.sh $(STATIC_DIR)

$(BUILD)/test_%: tests/unit/test_%.c $(OBJS)
	$(CC) $(CFLAGS) -Iunlock -DTEST_DATA='"$(abspath tests/data)"' $(LDFLAGS) -o $@ $< $(OBJS) \
		$(LDLIBS) -lcmocka

# test tool: systemd's own token plugin, driven through libcryptsetup
build/sd_tpm2_open: tests/tools/sd_tpm2_open.c | $(BUILD)
	$(CC) $(CFLAGS) -o $@ $< $(LDLIBS)

# the static binary (what the initrd gets); INSTALL_DYNAMIC=1 installs the
# development build instead
ifeq ($(INSTALL_DYNAMIC),1)
INSTALL_BIN := $(BIN)
INSTALL_DEP := $(BIN)
else
INSTALL_BIN := $(STATIC_DIR)/kcrypt
INSTALL_DEP := static
endif
install: $(INSTALL_DEP)
	install -D -m 0755 $(INSTALL_BIN) $(DESTDIR)$(PREFIX)/bin/kcrypt
	install -D -m 0644 unlock/kcrypt.8 $(DESTDIR)$(PREFIX)/share/man/man8/kcrypt.8
	# dracut module: dracut -a kcrypt (boot-phase scripts from hooks/)
	install -D -m 0755 initrd/90kcrypt/module-setup.sh $(DESTDIR)$(DRACUTDIR)/90kcrypt/module-setup.sh
	install -D -m 0644 initrd/90kcrypt/kcrypt.service $(DESTDIR)$(DRACUTDIR)/90kcrypt/kcrypt.service
	install -m 0755 hooks/kcrypt-unlock.sh hooks/kcrypt-pre-mount.sh hooks/kcrypt-cmdline.sh \
		hooks/kcrypt-leave-initrd.sh hooks/kcrypt-pre-pivot.sh \
		$(DESTDIR)$(DRACUTDIR)/90kcrypt/

setup:
	sh tests/setup.sh

# --- tests -----------------------------------------------------------------
check-unit: $(UNIT_BIN)
	sh tests/run-unit.sh $(UNIT_BIN)

INTEGRATION := tests/integration/run.sh tests/integration/tpm.sh tests/integration/trust.sh \
               tests/integration/recovery.sh tests/integration/prompt.sh \
               tests/integration/hostile.sh tests/integration/checkuki.sh tests/integration/srk.sh

check-integration: $(BIN) build/sd_tpm2_open
	sh tests/run-suites.sh $(abspath $(BIN)) $(INTEGRATION)

check: check-unit check-integration

# the integration suites again, against the static binary, and the proof
# that it loads no shared object
check-static: static build/sd_tpm2_open
	sh tests/run-suites.sh $(abspath $(STATIC_DIR)/kcrypt) $(INTEGRATION) tests/integration/static.sh

check-asan:
	$(MAKE) --no-print-directory build/sd_tpm2_open
	$(MAKE) --no-print-directory BUILD=build/asan SANITIZE=1 CC=$(CC) build/asan/kcrypt \
		$(UNITS:%=build/asan/test_%)
	ASAN_OPTIONS=detect_leaks=1 sh tests/run-unit.sh $(UNITS:%=build/asan/test_%)
	ASAN_OPTIONS=detect_leaks=1 sh tests/run-suites.sh $(abspath build/asan/kcrypt) $(INTEGRATION)

check-valgrind: $(BIN) $(UNIT_BIN) build/sd_tpm2_open
	KCRYPT_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		sh tests/run-unit.sh $(UNIT_BIN)
	KCRYPT_WRAP="valgrind -q --error-exitcode=99 --leak-check=full --errors-for-leak-kinds=definite" \
		sh tests/run-suites.sh $(abspath $(BIN)) $(INTEGRATION)

FUZZ_CFLAGS := -std=gnu11 -D_GNU_SOURCE -g -O1 -fsanitize=fuzzer,address,undefined \
               $(shell pkg-config --cflags $(PKGS)) -Iunlock
FUZZERS     := config token pcrsig vset luks_hdr pe
FUZZ_SRC_config := unlock/config.c unlock/yamltree.c unlock/strv.c
FUZZ_SRC_token  := unlock/token.c unlock/codec.c
FUZZ_SRC_pcrsig := unlock/pcrsig.c unlock/codec.c
FUZZ_SRC_vset   := unlock/vset.c unlock/codec.c unlock/secret.c
FUZZ_SRC_luks_hdr := unlock/luks_hdr.c
FUZZ_SRC_pe     := unlock/pe.c unlock/uki.c
FUZZ_SEEDS_config := tests/data/config
FUZZ_SEEDS_token  := tests/data/token
FUZZ_SEEDS_pcrsig := tests/data/pcrsig
FUZZ_SEEDS_vset   := tests/data/vset
FUZZ_SEEDS_luks_hdr := build/seeds-luks2
FUZZ_SEEDS_pe   := build/seeds-pe

.SECONDEXPANSION:
build/fuzz_%: tests/fuzz/fuzz_%.c $$(FUZZ_SRC_$$*) | $(BUILD)
	clang $(FUZZ_CFLAGS) -o $@ $^ $(LDLIBS)

build/seeds-luks2: tests/fuzz/luks-seeds.sh | $(BUILD)
	sh tests/fuzz/luks-seeds.sh $@

build/seeds-pe: tests/fuzz/pe-seeds.sh | $(BUILD)
	sh tests/fuzz/pe-seeds.sh $@

# make test: a short pass per parser; make fuzz: half an hour each;
# make fuzz-long: FUZZ_HOURS (default 4) each, for a person to leave running
fuzz-short: $(FUZZERS:%=build/fuzz_%) build/seeds-luks2 build/seeds-pe
	$(foreach f,$(FUZZERS),sh tests/fuzz/run.sh build/fuzz_$(f) 20 $(FUZZ_SEEDS_$(f)) &&) true

fuzz: $(FUZZERS:%=build/fuzz_%) build/seeds-luks2 build/seeds-pe
	$(foreach f,$(FUZZERS),sh tests/fuzz/run.sh build/fuzz_$(f) 1800 $(FUZZ_SEEDS_$(f)) &&) true

FUZZ_HOURS ?= 4
fuzz-long: $(FUZZERS:%=build/fuzz_%) build/seeds-luks2 build/seeds-pe
	$(foreach f,$(FUZZERS),sh tests/fuzz/run.sh build/fuzz_$(f) $$(($(FUZZ_HOURS) * 3600)) $(FUZZ_SEEDS_$(f)) &&) true

lint:
	shellcheck -x tests/*.sh tests/integration/*.sh tests/fuzz/*.sh tests/bench/*.sh \
		tests/data/*.sh .ci/run
	shellcheck -s bash initrd/90kcrypt/module-setup.sh
	shellcheck -s sh -e SC2034 hooks/*.sh
	shellcheck -x qemu/*.sh
	shellcheck -s sh qemu/guest/init qemu/guest/bb-init

# TPM unlock cost against systemd's token plugin and clevis (build/bench/results.md)
# and the last boot benchmark's table, when there is one
bench: $(BIN) build/sd_tpm2_open
	bash tests/bench/bench.sh $(abspath $(BIN)) build/sd_tpm2_open
	@if [ -e build/bench/boot.md ]; then echo; sed -n '1,/^kcrypt.s own breakdown/p' build/bench/boot.md | sed '$$d'; \
	else echo; echo "bench: no boot benchmark yet (make bench-boot: about 25 min of QEMU boots)"; fi

# The boot's cost in the QEMU guest: kcrypt, dracut's systemd-cryptsetup and
# clevis-dracut on one disk, three boots each (build/bench/boot.md); not in
# make test (the boots would add about 25 minutes to CI's 70)
bench-boot:
	bash qemu/bench-boot.sh

# Everything CI runs; the last line is "N passed, N failed".
test:
	bash tests/run-all.sh

# The main job: a Secure Boot, measured, TPM-unlocked boot in QEMU (builds
# what is missing under build/qemu, then boots it and shows what the guest saw)
demo: $(BIN)
	bash qemu/demo.sh

# kcrypt on sample images, no QEMU (status, dry run, unlock-all --test)
demo-host: $(BIN)
	bash tests/demo.sh $(abspath $(BIN))

# The test machine: keys, initrds, UKIs, disk, installer boot (build/qemu)
qemu: $(BIN)
	bash qemu/build.sh

# The boot scenarios (part of make test); ends "e2e: N passed, N failed"
e2e: $(BIN)
	bash qemu/e2e.sh

# The attack matrix against the disk (tests/THREAT-MODEL.md), each attack made
# with host tools on a copy of the machine; ends "e2e-attacks: N passed, N failed"
e2e-attacks: $(BIN)
	bash qemu/e2e-attacks.sh

# Interop with systemd's tools in the guest, and a firmware db update moving
# PCR 7; ends "e2e-matrix: N passed, N failed"
e2e-matrix: $(BIN)
	bash qemu/e2e-matrix.sh

# recovery key at the prompt (both initrd flavours), reseal, PIN and lockout,
# headless, check-uki confirmed by booting; ends "e2e-recovery: N passed, N failed"
e2e-recovery: $(BIN)
	bash qemu/e2e-recovery.sh

# clean keeps the dependency cache (build/static/prefix); distclean does not
clean:
	find build -mindepth 1 -maxdepth 1 ! -name static -exec rm -rf {} + 2>/dev/null || true
	rm -rf $(STATIC_DIR)/obj $(STATIC_DIR)/kcrypt kcrypt

distclean:
	rm -rf build kcrypt
