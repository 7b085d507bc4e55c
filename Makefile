# mdir: one GNU Makefile, pkg-config, no autotools, no recursion into
# directories.  Every output has one rule, so "make -j" is safe.  Objects go
# to $(B) (build/, or build-san/ with SANITIZE=1), laid out as installed:
# $(B)/bin, $(B)/lib, so the programs' rpath $ORIGIN/../lib works in both.

.DEFAULT_GOAL := all

VERSION    := 0.1.0
SOVERSION  := 0

PREFIX     ?= /usr/local
BINDIR     ?= $(PREFIX)/bin
SBINDIR    ?= $(PREFIX)/sbin
LIBDIR     ?= $(PREFIX)/lib
INCLUDEDIR ?= $(PREFIX)/include
MANDIR     ?= $(PREFIX)/share/man
PKGCONFIGDIR ?= $(LIBDIR)/pkgconfig
SYSTEMDDIR ?= $(PREFIX)/lib/systemd/system

PKGS := gmime-3.0 glib-2.0 gio-2.0 gio-unix-2.0 openssl sqlite3
DEPS_OK := $(shell pkg-config --exists $(PKGS) 2>/dev/null && echo yes)

ifeq ($(SANITIZE),1)
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
	$(Q)$(CC) $(CFLAGS) $(MDIR_CFLAGS) -fPIC -fvisibility=hidden -DMDIR_COMPILATION \
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
$$(B)/obj/$(1)/%.o: $(1)/%.c
	@mkdir -p $$(@D)
	$$(say) CC $$@
	$$(Q)$$(CC) $$(CFLAGS) $$(MDIR_CFLAGS) -I$(1) -c -o $$@ $$<
$$(B)/bin/$(1): $$($(1)_OBJ) $$(LIB_REAL)
	@mkdir -p $$(@D)
	$$(say) LD $$@
	$$(Q)$$(CC) -o $$@ $$($(1)_OBJ) -L$$(B)/lib -lmdir $$(MDIR_LDFLAGS) $$(PKG_LIBS) \
		-Wl,-rpath,'$$$$ORIGIN/../lib'
endef
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
STATS_TEST_OBJ := $(B)/obj/smtp-stats/db.o $(B)/obj/smtp-stats/policy.o
$(B)/obj/tests/unit/test-stats.o: MDIR_CFLAGS += -Ismtp-stats
$(B)/tests/test-stats: $(B)/obj/tests/unit/test-stats.o $(LIB_OBJ) $(STATS_TEST_OBJ)
	@mkdir -p $(@D)
	$(say) LD $@
	$(Q)$(CC) -o $@ $^ $(MDIR_LDFLAGS) $(PKG_LIBS)

# ---------------------------------------------------------------- targets
# keep the test objects: they are intermediate only to make
.SECONDARY:

.PHONY: all check check-build test stress deps demo install uninstall clean lint help

all: $(LIB_REAL) $(BIN)

ifeq ($(DEPS_OK),)
ifneq ($(filter-out deps check demo clean help lint,$(or $(MAKECMDGOALS),all)),)
$(error missing build dependencies ($(PKGS)): run 'make deps' as root, or 'make check')
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

check-build: all $(UNIT_BIN)

# the stress suite in full (tests/stress; make check runs a short version):
# kill -9, a full disk, mdird down, concurrent senders; prints its figures
stress:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory check-build
	@tests/stress/run --build $(B)

test: check

lint:
	mandoc -Tlint -Wwarning man/*.[1-8]

demo:
	@scripts/deps --if-missing
	@$(MAKE) --no-print-directory all
	@scripts/demo $(B)

help:
	@echo "targets: all check stress demo deps install uninstall clean lint"
	@echo "variables: PREFIX DESTDIR SANITIZE=1 B (build directory)"

mdir.pc: mdir.pc.in Makefile
	sed -e 's|@PREFIX@|$(PREFIX)|' -e 's|@LIBDIR@|$(LIBDIR)|' \
		-e 's|@INCLUDEDIR@|$(INCLUDEDIR)|' -e 's|@VERSION@|$(VERSION)|' $< > $@

MAN_PAGES := $(wildcard man/*.[1-8])

install: all mdir.pc
	install -d $(DESTDIR)$(BINDIR) $(DESTDIR)$(SBINDIR) $(DESTDIR)$(LIBDIR) \
		$(DESTDIR)$(INCLUDEDIR) $(DESTDIR)$(PKGCONFIGDIR)
	install -m 755 $(LIB_REAL) $(DESTDIR)$(LIBDIR)/
	ln -sf libmdir.so.$(VERSION) $(DESTDIR)$(LIBDIR)/$(LIB_SO)
	ln -sf $(LIB_SO) $(DESTDIR)$(LIBDIR)/libmdir.so
	install -m 644 libmdir/mdir.h $(DESTDIR)$(INCLUDEDIR)/
	install -m 644 mdir.pc $(DESTDIR)$(PKGCONFIGDIR)/
	for p in $(PROGS); do \
		case " $(SBIN_PROGS) " in *" $$p "*) d=$(SBINDIR);; *) d=$(BINDIR);; esac; \
		install -m 755 $(B)/bin/$$p $(DESTDIR)$$d/; done
	for m in $(MAN_PAGES); do s=$${m##*.}; install -d $(DESTDIR)$(MANDIR)/man$$s; \
		install -m 644 $$m $(DESTDIR)$(MANDIR)/man$$s/; done
	if [ -d systemd ]; then install -d $(DESTDIR)$(SYSTEMDDIR); \
		for u in systemd/*; do sed -e 's|@SBINDIR@|$(SBINDIR)|g' -e 's|@BINDIR@|$(BINDIR)|g' $$u \
		> $(DESTDIR)$(SYSTEMDDIR)/$${u##*/}; done; fi
	if [ -z "$(DESTDIR)" ] && [ "$$(id -u)" = 0 ]; then ldconfig || true; fi

uninstall:
	rm -f $(DESTDIR)$(LIBDIR)/libmdir.so* $(DESTDIR)$(INCLUDEDIR)/mdir.h \
		$(DESTDIR)$(PKGCONFIGDIR)/mdir.pc
	for p in $(PROGS); do rm -f $(DESTDIR)$(BINDIR)/$$p $(DESTDIR)$(SBINDIR)/$$p; done
	for m in $(MAN_PAGES); do s=$${m##*.}; rm -f $(DESTDIR)$(MANDIR)/man$$s/$${m##*/}; done
	if [ -d systemd ]; then for u in systemd/*; do \
		rm -f $(DESTDIR)$(SYSTEMDDIR)/$${u##*/}; done; fi

clean:
	rm -rf build build-san mdir.pc

-include $(shell find $(B)/obj -name '*.d' 2>/dev/null)
