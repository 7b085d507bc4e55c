# mdir: one GNU Makefile, pkg-config, no autotools, no recursion into
# directories.  Every output has one rule, so "make -j" is safe.  Objects go
# to $(B) (build/, or build-san/ with SANITIZE=1), laid out as installed:
# $(B)/bin, $(B)/lib, so the programs' rpath $ORIGIN/../lib works in both.

.DEFAULT_GOAL := all

# The version is written once, in mdir.h (--version of every program
# prints it); debian/changelog's must agree (t/1084 checks).
VERSION    := $(shell sed -n 's/^\#define MDIR_VERSION_STRING "\(.*\)"$$/\1/p' libmdir/mdir.h)
SOVERSION  := 0
ifeq ($(VERSION),)
$(error no MDIR_VERSION_STRING in libmdir/mdir.h)
endif

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system
DATADIR    ?= $(PREFIX)/share
# mdir-command's shipped plugins (commands/), [command] plugins' default
# with PREFIX=/usr
COMMANDSDIR ?= $(PREFIX)/lib/mdir/commands

PKGS := gmime-3.0 glib-2.0 gio-2.0 gio-unix-2.0 openssl sqlite3
# what one program needs and nothing else links: smtp-stats draws its chart
# with cairo (its fonts found by fontconfig) and writes JSON with json-glib
# (PROG_PKGS: a per-program list)
smtp-stats_PKGS := cairo fontconfig json-glib-1.0
# mdir-web: an HTTP server (libsoup), yescrypt (libcrypt), and smtp-stats'
# queries and chart (its objects, hence its packages too)
mdir-web_PKGS := libsoup-3.0 json-glib-1.0 libcrypt cairo fontconfig
PROG_PKGS := $(smtp-stats_PKGS) $(mdir-web_PKGS)
DEPS_OK := $(shell pkg-config --exists $(PKGS) $(PROG_PKGS) 2>/dev/null && echo yes)

ifeq ($(FUZZ),1)
# "make fuzz" builds here with clang: libFuzzer, ASan and UBSan
B ?= build-fuzz
SANFLAGS := -fsanitize=fuzzer-no-link,address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
CFLAGS ?= -O1 -g
else ifeq ($(SANITIZE),1)
B ?= build-san
SANFLAGS := -fsanitize=address,undefined -fno-omit-frame-pointer \
	-fno-sanitize-recover=undefined
CFLAGS ?= -O1 -g
else
B ?= build
SANFLAGS :=
CFLAGS ?= -O2 -g
endif

PKG_CFLAGS := $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
PKG_LIBS   := $(shell pkg-config --libs $(PKGS) 2>/dev/null)

WARN := -Wall -Wextra -Werror -Wshadow -Wmissing-prototypes -Wstrict-prototypes \
	-Wpointer-arith -Wcast-qual
# clang warns of other things than gcc: the fuzz build is not the gate
ifeq ($(FUZZ),1)
WARN := $(filter-out -Werror,$(WARN))
endif
MDIR_CFLAGS := -std=gnu11 $(WARN) -fstack-protector-strong -D_FORTIFY_SOURCE=2 \
	-MMD -MP -Ilibmdir $(PKG_CFLAGS) $(SANFLAGS) \
	-DGLIB_VERSION_MIN_REQUIRED=GLIB_VERSION_2_74 \
	-DG_LOG_USE_STRUCTURED=1
MDIR_LDFLAGS := $(SANFLAGS) -Wl,-z,relro,-z,now -Wl,--as-needed $(LDFLAGS)

# quiet by default; V=1 shows the commands
ifeq ($(V),1)
Q :=
say := @true
else
Q := @
say := @printf '  %-6s %s\n'
endif

# ---------------------------------------------------------------- library
LIB_SRC  := $(sort $(wildcard libmdir/*.c))
LIB_OBJ  := $(LIB_SRC:%.c=$(B)/obj/%.o)
LIB_SO   := libmdir.so.$(SOVERSION)
LIB_REAL := $(B)/lib/libmdir.so.$(VERSION)

$(B)/obj/libmdir/%.o: libmdir/%.c
	@mkdir -p $(@D)
	$(say) CC $@
	$(Q)$(CC) $(CPPFLAGS) $(CFLAGS) $(MDIR_CFLAGS) -fPIC -fvisibility=hidden -DMDIR_COMPILATION \
		-c -o $@ $<

$(LIB_REAL): $(LIB_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -shared -Wl,-soname,$(LIB_SO) -o $@ $(LIB_OBJ) $(MDIR_LDFLAGS) $(PKG_LIBS)
	$(Q)ln -sf libmdir.so.$(VERSION) $(B)/lib/$(LIB_SO)
	$(Q)ln -sf $(LIB_SO) $(B)/lib/libmdir.so

# --------------------------------------------------------------- programs
# A program is a top-level directory with a main.c; it links to libmdir
# and to nothing else of the project.
PROGS := $(patsubst %/main.c,%,$(wildcard */main.c))
SBIN_PROGS := mdird

define prog_rules
$(1)_OBJ := $$(patsubst %.c,$$(B)/obj/%.o,$$(sort $$(wildcard $(1)/*.c)))
$(1)_CFLAGS := $$(if $$($(1)_PKGS),$$(shell pkg-config --cflags $$($(1)_PKGS) 2>/dev/null))
$(1)_LIBS := $$(if $$($(1)_PKGS),$$(shell pkg-config --libs $$($(1)_PKGS) 2>/dev/null))
$$(B)/obj/$(1)/%.o: $(1)/%.c
	@mkdir -p $$(@D)
	$$(say) CC $$@
	$$(Q)$$(CC) $$(CPPFLAGS) $$(CFLAGS) $$(MDIR_CFLAGS) $$($(1)_CFLAGS) -I$(1) -c -o $$@ $$<
$$(B)/bin/$(1): $$($(1)_OBJ) $$($(1)_EXTRA_OBJ) $$(LIB_REAL)
	@mkdir -p $$(@D)
	$$(say) LD $$@
	$$(Q)$$(CC) -o $$@ $$($(1)_OBJ) $$($(1)_EXTRA_OBJ) -L$$(B)/lib -lmdir $$(MDIR_LDFLAGS) $$(PKG_LIBS) \
		$$($(1)_LIBS) -Wl,-rpath,'$$$$ORIGIN/../lib'
endef
# mdir-web shows smtp-stats' figures with smtp-stats' own queries and chart
mdir-web_EXTRA_OBJ := $(B)/obj/smtp-stats/db.o $(B)/obj/smtp-stats/report.o \
	$(B)/obj/smtp-stats/lists.o \
	$(B)/obj/smtp-stats/chart.o
$(B)/obj/mdir-web/%.o: MDIR_CFLAGS += -Ismtp-stats
$(foreach p,$(PROGS),$(eval $(call prog_rules,$(p))))

BIN := $(PROGS:%=$(B)/bin/%)

# ------------------------------------------------------------------ tests
# Unit tests link the library's objects directly, so internal modules can
# be tested too; the programs use the shared library.
UNIT_SRC := $(sort $(wildcard tests/unit/test-*.c))
UNIT_BIN := $(UNIT_SRC:tests/unit/%.c=$(B)/tests/%)

$(B)/obj/tests/unit/%.o: tests/unit/%.c
	@mkdir -p $(@D)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS) $(MDIR_CFLAGS) -DMDIR_COMPILATION -Itests/unit -c -o $@ $<

$(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIB_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS)

# smtp-stats' decisions are unit-tested from the program's own objects
STATS_TEST_OBJ := $(B)/obj/smtp-stats/db.o $(B)/obj/smtp-stats/policy.o \
	$(B)/obj/smtp-stats/chart.o
$(B)/obj/tests/unit/test-stats.o: MDIR_CFLAGS += -Ismtp-stats
$(B)/tests/test-stats: $(B)/obj/tests/unit/test-stats.o $(LIB_OBJ) $(STATS_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS) $(smtp-stats_LIBS)

# mdir-outbox's logic likewise, from all its objects but main
OUTBOX_TEST_OBJ := $(filter-out %/main.o,$(mdir-outbox_OBJ))
$(B)/obj/tests/unit/test-outbox.o: MDIR_CFLAGS += -Imdir-outbox
$(B)/tests/test-outbox: $(B)/obj/tests/unit/test-outbox.o $(LIB_OBJ) $(OUTBOX_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS)

# mdir-command's TOTP, parsing, replay store and S/MIME, from its objects
# but main
COMMAND_TEST_OBJ := $(filter-out %/main.o,$(mdir-command_OBJ))
$(B)/obj/tests/unit/test-command.o $(B)/obj/tests/unit/test-smime.o: MDIR_CFLAGS += -Imdir-command
$(B)/tests/test-command $(B)/tests/test-smime: $(B)/tests/%: $(B)/obj/tests/unit/%.o $(LIB_OBJ) \
		$(COMMAND_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS)

# tests/tools/: drivers the shell tests run (smime-tool: mdir-command's
# smime_open() and smime_seal() for t/7010, on its objects but main)
$(B)/obj/tests/tools/%.o: tests/tools/%.c
	@mkdir -p $(@D)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS) $(MDIR_CFLAGS) -DMDIR_COMPILATION -Imdir-command -c -o $@ $<
$(B)/tools/smime-tool: $(B)/obj/tests/tools/smime-tool.o $(LIB_OBJ) $(COMMAND_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS)
# mdir-web's handlers, from all its objects but main, against a server in
# the test's own process
WEB_TEST_OBJ := $(filter-out %/main.o,$(mdir-web_OBJ)) $(mdir-web_EXTRA_OBJ)
$(B)/obj/tests/unit/test-web.o: MDIR_CFLAGS += -Imdir-web -Ismtp-stats $(mdir-web_CFLAGS)
$(B)/tests/test-web: $(B)/obj/tests/unit/test-web.o $(LIB_OBJ) $(WEB_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS) $(mdir-web_LIBS)

# ---------------------------------------------------------------- fuzzing
# tests/fuzz/fuzz-NAME.c: a harness a parser.  Linked with replay.c (a
# main() that runs files through it), every build replays the inputs of
# tests/data/fuzz/NAME in "make check" (t/0200); "make fuzz" links them
# with libFuzzer (clang, in build-fuzz/) and runs each for FUZZ_SECONDS.
FUZZ_NAMES := $(patsubst tests/fuzz/fuzz-%.c,%,$(wildcard tests/fuzz/fuzz-*.c))
FUZZ_SECONDS ?= 60
FUZZ_COMMON := $(B)/obj/tests/fuzz/common.o
REPLAY_BIN := $(FUZZ_NAMES:%=$(B)/fuzz/replay-%)
FUZZ_BIN := $(FUZZ_NAMES:%=$(B)/fuzz/fuzz-%)
# a harness of a program's parser includes its source; what else it needs
FUZZ_OBJ_policy := $(B)/obj/smtp-stats/db.o $(B)/obj/smtp-stats/policy.o
FUZZ_OBJ_smime := $(COMMAND_TEST_OBJ)

$(B)/obj/tests/fuzz/%.o: tests/fuzz/%.c
	@mkdir -p $(@D)
	$(say) CC $@
	$(Q)$(CC) $(CFLAGS) $(MDIR_CFLAGS) -DMDIR_COMPILATION -Itests/fuzz -Imdird -Ismtp-stats \
		-Imdir-command \
		-c -o $@ $<

define fuzz_rules
$$(B)/fuzz/replay-$(1): $$(B)/obj/tests/fuzz/fuzz-$(1).o $$(B)/obj/tests/fuzz/replay.o \
		$$(FUZZ_COMMON) $$(FUZZ_OBJ_$(1)) $$(LIB_OBJ)
	@mkdir -p $$(@D)
	$$(say) LD $$@
	$$(Q)$$(CC) -o $$@ $$^ $$(MDIR_LDFLAGS) $$(PKG_LIBS)
$$(B)/fuzz/fuzz-$(1): $$(B)/obj/tests/fuzz/fuzz-$(1).o $$(FUZZ_COMMON) $$(FUZZ_OBJ_$(1)) \
		$$(LIB_OBJ)
	@mkdir -p $$(@D)
	$$(say) LD $$@
	$$(Q)$$(CC) -fsanitize=fuzzer -o $$@ $$^ $$(MDIR_LDFLAGS) $$(PKG_LIBS)
endef
$(foreach n,$(FUZZ_NAMES),$(eval $(call fuzz_rules,$(n))))

# ---------------------------------------------------------------- targets
# keep the test objects: they are intermediate only to make
.SECONDARY:

.PHONY: all check check-build test stress deps demo install uninstall clean lint help fuzz fuzz-build \
	dist version bench

all: $(LIB_REAL) $(BIN)

ifeq ($(DEPS_OK),)
ifneq ($(filter-out deps check demo clean help lint,$(or $(MAKECMDGOALS),all)),)
$(error missing build dependencies ($(PKGS) $(PROG_PKGS)): run 'make deps' as root, or 'make check')
endif
endif

deps:
	@scripts/deps

# "make check" on a fresh machine: install what is missing, then build
# (in a second make, which sees the new pkg-config files), then run all.
check:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory check-build
	@tests/run --build $(B)

check-build: all $(UNIT_BIN) $(REPLAY_BIN) $(B)/tools/smime-tool

# each harness for FUZZ_SECONDS (60) with libFuzzer; a crash fails it and
# is left in build-fuzz/fuzz/ (tests/fuzz/run says how to keep it)
fuzz:
	@command -v clang >/dev/null || { echo "fuzz: clang is not installed (make deps)" >&2; exit 1; }
	@$(MAKE) --no-print-directory FUZZ=1 CC=clang fuzz-build
	@tests/fuzz/run --build build-fuzz --seconds $(FUZZ_SECONDS)

fuzz-build: $(FUZZ_BIN)

# the stress suite in full (tests/stress; make check runs a short version):
# kill -9, a full disk, mdird down, concurrent senders; prints its figures
stress:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory check-build
	@tests/stress/run --build $(B)

test: check

# every benchmark of bench/ and one table of their ratios against the
# issues' targets (bench/run.sh: sizes by environment, logs in
# $(B)/bench); minutes, not part of check
bench:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory all
	@bench/run.sh --build $(B)

lint:
	mandoc -Tlint -Wwarning man/*.[1-8]

demo:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory all
	@scripts/demo $(B)

help:
	@echo "targets: all check stress fuzz bench demo deps install uninstall clean lint dist version"
	@echo "variables: PREFIX DESTDIR SANITIZE=1 B (build directory) FUZZ_SECONDS DISTDIR"

version:
	@echo $(VERSION)

# mdir-VERSION.tar.gz in DISTDIR: every file git tracks, as it is in the
# work tree, under mdir-VERSION/.  The same bytes for the same files: names
# sorted, owner 0, every time the last commit's (or SOURCE_DATE_EPOCH),
# gzip without a name or time.
DISTDIR ?= .
DIST_EPOCH = $(or $(SOURCE_DATE_EPOCH),$(shell git log -1 --format=%ct 2>/dev/null))
dist:
	@git rev-parse --is-inside-work-tree >/dev/null 2>&1 || \
		{ echo "make dist: needs the git work tree (it packs what git tracks)" >&2; exit 1; }
	$(Q)git ls-files -z | xargs -0 -n1 sh -c '[ -e "$$0" ] && printf "%s\0" "$$0"' | \
		LC_ALL=C tar --null -T - --sort=name --transform 's,^,mdir-$(VERSION)/,' \
		--mtime=@$(DIST_EPOCH) --owner=0 --group=0 --numeric-owner \
		--mode=go-w -cf - | gzip -n9 > $(DISTDIR)/mdir-$(VERSION).tar.gz.tmp
	$(Q)mv $(DISTDIR)/mdir-$(VERSION).tar.gz.tmp $(DISTDIR)/mdir-$(VERSION).tar.gz
	$(say) DIST $(DISTDIR)/mdir-$(VERSION).tar.gz

# made again at each make: PREFIX may differ from the last run's, and an
# install must not carry an earlier prefix (replaced only when it changed)
mdir.pc: mdir.pc.in Makefile
	@sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@.tmp
	@if cmp -s $@.tmp $@; then rm -f $@.tmp; else mv $@.tmp $@; fi

.PHONY: mdir.pc

MAN_PAGES := $(wildcard man/*.[1-8])

# make install notes in $(MANIFEST) each directory it had to create and
# whether it ran ldconfig, so that make uninstall removes exactly those
# directories (when empty) and runs ldconfig only where install did.
INSTALL_DIRS := $(BINDIR) $(SBINDIR) $(LIBDIR) $(INCLUDEDIR) $(PKGCONFIGDIR) \
	$(sort $(foreach m,$(MAN_PAGES),$(MANDIR)/man$(subst .,,$(suffix $(m))))) \
	$(SYSTEMDDIR) $(DATADIR)/mdir $(COMMANDSDIR)
MANIFEST := $(DATADIR)/mdir/installed

install: all mdir.pc
	@new=; for d in $(INSTALL_DIRS); do \
		while [ "$$d" != / ] && [ ! -d "$(DESTDIR)$$d" ]; do new="$$new $$d"; d=$$(dirname "$$d"); done; \
	done; \
	install -d $(INSTALL_DIRS:%=$(DESTDIR)%) && \
	{ [ ! -f $(DESTDIR)$(MANIFEST) ] || cat $(DESTDIR)$(MANIFEST); \
	  for d in $$new; do echo "dir $$d"; done; } | sort -u > $(DESTDIR)$(MANIFEST).new && \
	mv $(DESTDIR)$(MANIFEST).new $(DESTDIR)$(MANIFEST)
	install -m 755 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libmdir.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SO)
	ln -sf $(LIB_SO) $(DESTDIR)$(LIBDIR)/libmdir.so
	install -m 644 libmdir/mdir.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 mdir.pc $(DESTDIR)$(PKGCONFIGDIR)/
	for p in $(PROGS); do \
		case " $(SBIN_PROGS) " in *" $$p "*) d=$(SBINDIR);; *) d=$(BINDIR);; esac; \
		install -m 755 $(B)/bin/$$p $(DESTDIR)$$d/; done
	for m in $(MAN_PAGES); do s=$${m##*.}; \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	install -m 755 $(wildcard commands/*) $(DESTDIR)$(COMMANDSDIR)/
	for u in systemd/*; do sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' $$u \
		> $(DESTDIR)$(SYSTEMDDIR)/$${u##*/}; done
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ] && ldconfig; then \
		grep -qx ldconfig $(MANIFEST) || echo ldconfig >> $(MANIFEST); fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmdir.so* $(DESTDIR)$(INCLUDEDIR)/mdir.h \
		$(DESTDIR)$(PKGCONFIGDIR)/mdir.pc
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(SBINDIR)/$$p; done
	for m in $(MAN_PAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	for c in $(wildcard commands/*); do rm -f $(DESTDIR)$(COMMANDSDIR)/$${c##*/}; done
	for u in systemd/*; do rm -f $(DESTDIR)$(SYSTEMDDIR)/$${u##*/}; done
	@if [ -f $(DESTDIR)$(MANIFEST) ]; then \
		m=$$(cat $(DESTDIR)$(MANIFEST)); rm -f $(DESTDIR)$(MANIFEST); \
		echo "$$m" | sed -n 's/^dir //p' | sort -r | while read -r d; do \
			rmdir "$(DESTDIR)$$d" 2>/dev/null || true; done; \
		if echo "$$m" | grep -qx ldconfig; then ldconfig || true; fi; \
	fi

clean:
	rm -rf build build-san build-fuzz mdir.pc

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
