# ngx_http_agentcore_module
#
#   make run     install what is needed, build, start the emulator + nginx
#   make test    install, build, run unit tests, a short fuzz, and t/
#   make fuzz    longer libFuzzer runs (FUZZ_SECONDS per target)
#   make fuzz-long FUZZ_HOURS=h  resumable campaigns (fuzz/README.md)
#   make bench   benchmarks (see bench/)
#   make cli     build/agentcore-invoke, the command-line client (cli/)
#   make test-browser  the chat page (html/) in headless Chromium

SHELL       := /bin/bash
ROOT        := $(abspath .)
BUILD       := $(ROOT)/build
MODDIR      := $(ROOT)/ngx_http_agentcore_module
NGX_SRC     ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
MODULE_SO   := $(BUILD)/ngx_http_agentcore_module.so

# the protocol layer: plain C, no nginx types
PROTO       := eventstream sigv4 json converse calculator history awscreds \
               prom content runtime_arn budget mcp_proto memory_proto \
               provider openai anthropic
PROTO_SRCS  := $(PROTO:%=$(MODDIR)/ngx_http_agentcore_%.c)
PROTO_HDRS  := $(PROTO:%=$(MODDIR)/ngx_http_agentcore_%.h)
GLUE_SRCS   := $(filter-out $(PROTO_SRCS),$(wildcard $(MODDIR)/*.c))
# the calculator's symbolic modes: a C++ shim on Giac behind a C header
CAS_SRC     := $(MODDIR)/ngx_http_agentcore_cas.cc
CAS_HDR     := $(MODDIR)/ngx_http_agentcore_cas.h
LIBS        := -ljansson -lcrypto -lgiac -lmpfr -lgmp -lz -lm -lcurl \
               -lstdc++
CXX         ?= g++
# Giac's own inline code in its headers reads packed fields: UBSan's
# alignment check is off for the shim (only)
CAS_CXXFLAGS := -std=c++17 -g -O1 -Wall -Wextra -Wno-unused-parameter \
               -Werror -I$(MODDIR)
CAS_SANITIZE := -fsanitize=address,undefined -fno-sanitize=alignment

VECTORS     ?= $(abspath $(ROOT)/../shared/vectors)
CC          ?= cc
UNIT_CFLAGS := -std=gnu99 -g -O1 -Wall -Wextra -Wno-unused-parameter \
               -Werror -I$(MODDIR) -DAC_VECTORS='"$(VECTORS)"' \
               -DAC_ROOT='"$(ROOT)"'

UNIT_TESTS  := $(patsubst unit/%.c,build/unit/%,$(wildcard unit/test_*.c))
FUZZ_SRCS   := $(wildcard fuzz/fuzz_*.c)
FUZZ_BINS   := $(patsubst fuzz/%.c,build/fuzz/%,$(FUZZ_SRCS))
FUZZ_SECONDS ?= 60
FUZZ_QUICK  ?= 10

APT_PKGS    := nginx-core nginx-dev libjansson-dev libcurl4-openssl-dev \
               libssl-dev libpcre2-dev zlib1g-dev libgmp-dev libmpfr-dev \
               libgiac-dev \
               libcmocka-dev clang libclang-rt-14-dev valgrind curl \
               libtest-base-perl libtest-longstring-perl \
               libtext-diff-perl liblist-moreutils-perl \
               libhttp-message-perl liburi-perl libipc-run-perl \
               python3-prometheus-client

AGENTCORE_PORT ?= 8080
# make run's address: ADDR or ADDR:PORT (0.0.0.0 for every address)
AGENTCORE_LISTEN ?= 127.0.0.1

.PHONY: all deps module cli unit fuzz fuzz-quick fuzz-long t selftest test run \
        bench bench-quick clean install uninstall test-install test-matrix deb \
        test-deb test-container test-browser test-asan coverage test-valgrind

all: module cli

# installs the Debian packages of $(1) that are missing (one apt-get)
define apt_install
missing=$$(for p in $(1); do \
    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
    | grep -q 'install ok installed' || echo $$p; done); \
if [ -n "$$missing" ]; then \
    echo "installing: $$missing"; \
    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
    $$SUDO apt-get update -qq && \
    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
        --no-install-recommends $$missing; \
fi
endef

# installs the Debian packages once (a stamp in build/ remembers)
deps: $(BUILD)/.deps
$(BUILD)/.deps:
	@mkdir -p $(BUILD)
	@missing=$$(dpkg-query -W -f='$${Package} $${Status}\n' $(APT_PKGS) \
	    2>/dev/null | awk '!/install ok installed/ {print $$1}'; \
	  for p in $(APT_PKGS); do dpkg-query -W $$p >/dev/null 2>&1 \
	    || echo $$p; done | sort -u); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi
	@touch $@

# the dynamic module, built against Debian's nginx with its own flags
module: $(MODULE_SO)
$(MODULE_SO): $(BUILD)/.deps config t/module/config $(PROTO_SRCS) \
              $(PROTO_HDRS) $(CAS_SRC) $(CAS_HDR) $(GLUE_SRCS) $(wildcard $(MODDIR)/*.h) \
              $(wildcard t/module/*.c)
	@mkdir -p $(BUILD)/nginx
	@if [ ! -f $(BUILD)/nginx/Makefile ] || [ config -nt $(BUILD)/nginx/Makefile ] \
	    || [ t/module/config -nt $(BUILD)/nginx/Makefile ]; then \
	    cd $(NGX_SRC) && . ./conf_flags && ./configure \
	    --with-cc-opt="$$(dpkg-buildflags --get CFLAGS) -fPIC $$(dpkg-buildflags --get CPPFLAGS) -Werror" \
	    --with-ld-opt="$$(dpkg-buildflags --get LDFLAGS) -fPIC" \
	    "$${NGX_CONF_FLAGS[@]}" --add-dynamic-module=$(ROOT) \
	    --add-dynamic-module=$(ROOT)/t/module \
	    --builddir=$(BUILD)/nginx > $(BUILD)/configure.log 2>&1 \
	    || { tail -30 $(BUILD)/configure.log; exit 1; }; fi
	@# the test suite's own tool module is built alongside
	$(MAKE) -s -f $(BUILD)/nginx/Makefile -C $(NGX_SRC) modules
	cp $(BUILD)/nginx/ngx_http_agentcore_test_tool_module.so $(BUILD)/
	cp $(BUILD)/nginx/ngx_http_agentcore_module.so $@

# the module against stock nginx sources configured without --with-debug
# (Debian's nginx has it): a variable read only by ngx_log_debug fails
# -Werror there.  NGX_TARBALL: a release tarball (auto/configure layout)
NGX_TARBALL ?= $(abspath $(ROOT)/../shared/nginx/nginx-1.22.1.tar.gz)
NODEBUG     := $(BUILD)/nodebug

.PHONY: module-nodebug
module-nodebug: $(BUILD)/.deps
	@rm -rf $(NODEBUG) && mkdir -p $(NODEBUG)
	tar xzf $(NGX_TARBALL) -C $(NODEBUG) --strip-components=1
	cd $(NODEBUG) && auto/configure --with-compat --with-threads \
	    --with-cc-opt=-Werror --add-dynamic-module=$(ROOT) \
	    > configure.log 2>&1 || { tail -30 configure.log; exit 1; }
	$(MAKE) -s -C $(NODEBUG) -f objs/Makefile modules

# agentcore-invoke (cli/, docs/agentcore-invoke.1): links the module's
# signer and credential chain, not copies of them
CLI         := $(BUILD)/agentcore-invoke
CLI_PROTO   := $(MODDIR)/ngx_http_agentcore_sigv4.c \
               $(MODDIR)/ngx_http_agentcore_awscreds.c
CLI_CFLAGS  := -std=gnu99 -g -O2 -Wall -Wextra -Wno-unused-parameter \
               -Werror -I$(MODDIR) -Icli

cli: $(CLI)
$(CLI): cli/agentcore_invoke.c cli/agentcore_sse.c cli/agentcore_sse.h \
        $(CLI_PROTO) $(CLI_PROTO:.c=.h) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(CLI_CFLAGS) $$(dpkg-buildflags --get CPPFLAGS) \
	    $$(dpkg-buildflags --get CFLAGS) $$(dpkg-buildflags --get LDFLAGS) \
	    -o $@ cli/agentcore_invoke.c cli/agentcore_sse.c $(CLI_PROTO) \
	    -ljansson -lcrypto -lcurl

# the SSE decoder's unit test and fuzzer
build/unit/test_cli_sse: unit/test_cli_sse.c cli/agentcore_sse.c \
                         cli/agentcore_sse.h | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -Icli -fsanitize=address,undefined -o $@ $< \
	    cli/agentcore_sse.c -ljansson -lcmocka

build/fuzz/fuzz_sse: fuzz/fuzz_sse.c cli/agentcore_sse.c cli/agentcore_sse.h \
                     | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang -g -O1 -Icli -fsanitize=fuzzer,address,undefined \
	    -o $@ $< cli/agentcore_sse.c -ljansson

# unit tests (cmocka) of the protocol layer
build/unit/cas.o: $(CAS_SRC) $(CAS_HDR) $(PROTO_HDRS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CAS_CXXFLAGS) $(CAS_SANITIZE) -c -o $@ $<

build/unit/%: unit/%.c $(PROTO_SRCS) $(PROTO_HDRS) $(wildcard unit/*.h) \
                 build/unit/cas.o | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -fsanitize=address,undefined -o $@ $< \
	    $(PROTO_SRCS) build/unit/cas.o $(LIBS) -lcmocka $(UNIT_LDFLAGS_$*)

# test_wipe sees every free() of the protocol code (secrets wiped first)
UNIT_LDFLAGS_test_wipe := -Wl,--wrap=free

# Giac's process-lifetime tables are not leaks (unit/lsan.supp)
SAN_ENV     := LSAN_OPTIONS=suppressions=$(ROOT)/unit/lsan.supp:print_suppressions=0

unit: $(UNIT_TESTS)
	@set -e; for t in $(UNIT_TESTS); do echo "== $$t"; $(SAN_ENV) $$t; done

# libFuzzer targets, one per parser
build/fuzz/cas.o: $(CAS_SRC) $(CAS_HDR) $(PROTO_HDRS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang++ -std=c++17 -g -O1 -I$(MODDIR) \
	    -fsanitize=fuzzer-no-link,address,undefined \
	    -fno-sanitize=alignment -c -o $@ $<

build/fuzz/%: fuzz/%.c $(wildcard fuzz/*.h) $(PROTO_SRCS) $(PROTO_HDRS) \
              build/fuzz/cas.o \
              | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	clang -g -O1 -I$(MODDIR) -fsanitize=fuzzer,address,undefined \
	    -fsanitize-link-c++-runtime \
	    -o $@ $< $(PROTO_SRCS) build/fuzz/cas.o $(LIBS)

# per-target libFuzzer options: FUZZ_OPTS_<target>.  The calculator
# bounds its work by steps, digits, degrees and sizes, so every input
# must finish well within a second (fuzz/fuzz_calculator.c)
FUZZ_OPTS_fuzz_calculator := -timeout=1
# ASan keeps freed memory in a 256 MB quarantine and its allocator does
# not give freed chunks back: the calculator fuzzer's RSS grew to 823 MB
# that way (with quarantine_size_mb=0 it stays near 60 MB after 800,000
# runs: no leak).  A smaller quarantine keeps long runs small; LSan skips
# Giac's process-lifetime tables and the GMP numbers it keeps
# (fuzz/lsan.supp)
FUZZ_ENV    := LSAN_OPTIONS=suppressions=$(ROOT)/fuzz/lsan.supp:print_suppressions=0 \
               ASAN_OPTIONS=quarantine_size_mb=32:malloc_context_size=2

fuzz-quick: $(FUZZ_BINS)
	@set -e; $(foreach f,$(FUZZ_BINS),n=$(notdir $(f)); \
	    mkdir -p $(BUILD)/corpus/$$n; \
	    echo "== $$n ($(FUZZ_QUICK)s) $(FUZZ_OPTS_$(notdir $(f)))"; \
	    $(FUZZ_ENV) $(f) -max_total_time=$(FUZZ_QUICK) -print_final_stats=0 \
	        $(FUZZ_OPTS_$(notdir $(f))) \
	        $(BUILD)/corpus/$$n fuzz/corpus/$$n 2>&1 | tail -2; \
	    test $${PIPESTATUS[0]} -eq 0;)

fuzz: $(FUZZ_BINS)
	@set -e; $(foreach f,$(FUZZ_BINS),n=$(notdir $(f)); \
	    mkdir -p $(BUILD)/corpus/$$n; \
	    echo "== $$n ($(FUZZ_SECONDS)s) $(FUZZ_OPTS_$(notdir $(f)))"; \
	    $(FUZZ_ENV) $(f) -max_total_time=$(FUZZ_SECONDS) \
	        $(FUZZ_OPTS_$(notdir $(f))) $(BUILD)/corpus/$$n \
	        fuzz/corpus/$$n;)

# resumable campaigns: FUZZ_HOURS split over FUZZ_TARGETS (all by
# default), the corpus merged and minimized into fuzz/corpus/, the
# cumulative executions in fuzz/state.tsv and fuzz/README.md
FUZZ_HOURS  ?= 1
FUZZ_TARGETS ?= $(notdir $(FUZZ_BINS))

fuzz-long: $(addprefix build/fuzz/,$(FUZZ_TARGETS))
	$(foreach t,$(FUZZ_TARGETS),FUZZ_OPTS_$(t)="$(FUZZ_OPTS_$(t))") \
	FUZZ_ENV="$(FUZZ_ENV)" nice -n 19 fuzz/long.sh $(FUZZ_HOURS) $^

# Test::Nginx suites: the real Test::Nginx when installed, else ours.
# t/prove.sh gives each run its own port (TEST_NGINX_PORT, else a free one)
# and server root (t/servroot, or t/servroot-PORT beside another run)
TEST_NGINX_ENV := TEST_NGINX_BINARY=$(NGINX) \
    TEST_NGINX_LOAD_MODULES=$(MODULE_SO) AGENTCORE_ROOT=$(ROOT)

t: $(MODULE_SO) $(CLI)
	$(TEST_NGINX_ENV) AGENTCORE_T_NAME="make t" t/prove.sh t/

# the suites under valgrind (memcheck), against Debian's nginx and the
# module .so (not the ASan build: valgrind and ASan exclude each other):
# nginx in one process in the foreground, t/valgrind.suppress for
# third-party noise; t/compat fails a block on an error or a definite
# leak.  VALGRIND_SUITES: the suites (all of t/ takes long); 011
# because valgrind alone saw a library's exit-time getenv() read the
# session zone's environment entry from a freed pool (ASan does not
# see reads by uninstrumented libraries)
VALGRIND_SUITES ?= t/001-ping.t t/002-stream.t t/011-sessions.t

test-valgrind: $(MODULE_SO) $(CLI)
	$(TEST_NGINX_ENV) TEST_NGINX_USE_VALGRIND=1 \
	    AGENTCORE_T_NAME="make test-valgrind" t/prove.sh $(VALGRIND_SUITES)

# the emulator's and our Test::Nginx runner's own tests, and those of the
# repository itself (t/selftest: the README's examples, make's targets)
selftest: $(MODULE_SO)
	prove emulator/t/
	prove -It/compat t/compat/t/
	TEST_NGINX_BINARY=$(NGINX) prove t/selftest/

test: $(BUILD)/.deps
	$(MAKE) module
	$(MAKE) cli
	$(MAKE) unit
	$(MAKE) fuzz-quick
	$(MAKE) selftest
	$(MAKE) t
	@if [ "$(AGENTCORE_NO_BROWSER)" = 1 ]; then \
	    echo "test-browser skipped (AGENTCORE_NO_BROWSER=1)"; \
	else $(MAKE) test-browser; fi

# the chat page (html/agentcore-chat.html) in Debian's headless chromium,
# driven over the DevTools protocol (t/browser/chat.py, no PyPI package)
# against conf/run.sh on a free port (BROWSER_PORT=N to choose one).
# chromium is installed here only (measured: 25 packages, about 400 MB,
# 30 s on a Debian 12 machine that had make deps); the run takes ~5 s
BROWSER_PKGS := chromium python3
BROWSER_PORT ?=

$(BUILD)/.browser-deps: | $(BUILD)/.deps
	@$(call apt_install,$(BROWSER_PKGS))
	@touch $@

test-browser: $(MODULE_SO) $(BUILD)/.browser-deps
	NGINX=$(NGINX) python3 t/browser/chat.py \
	    $(if $(BROWSER_PORT),--port $(BROWSER_PORT)) \
	    --screenshot $(BUILD)/browser/chat.png

run: $(MODULE_SO)
	AGENTCORE_PORT=$(AGENTCORE_PORT) AGENTCORE_LISTEN='$(AGENTCORE_LISTEN)' \
	    NGINX_BIN=$(NGINX) MODULE_SO=$(MODULE_SO) \
	    ROOT=$(ROOT) ./conf/run.sh

# nginx 1.22 to mainline (t/matrix/run.sh): each nginx of
# $(NGINX_TARBALLS) (checked against t/matrix/SHA256SUMS) is built once
# under build/matrix/<version>/ with the module (-Werror, with and
# without --with-debug), and every suite in t/ runs against it
NGINX_TARBALLS ?= $(abspath $(ROOT)/../shared/nginx)
MATRIX_PORT    ?= 21600

test-matrix: $(BUILD)/.deps
	NGINX_TARBALLS=$(NGINX_TARBALLS) MATRIX_PORT=$(MATRIX_PORT) \
	    t/matrix/run.sh

# make test-asan: nginx --with-debug from $(ASAN_VERSIONS)'s tarballs
# (the matrix's, build/matrix/<version>/asan/) compiled with
# -fsanitize=address,undefined and the module built in (--add-module),
# every suite in t/ and h2.sh against it; any sanitizer report (ASan,
# LSan, UBSan's "runtime error:") fails it.  A canary in the test
# suite's tool module shows first that a report does fail it.  The
# options and suppressions: t/matrix/san.sh
ASAN_VERSIONS  ?= 1.22.1 1.31.4
ASAN_PORT      ?= 21640

test-asan: $(CLI) $(BUILD)/.deps
	NGINX_TARBALLS=$(NGINX_TARBALLS) MATRIX_PORT=$(ASAN_PORT) \
	    MATRIX_VERSIONS="$(ASAN_VERSIONS)" MATRIX_VARIANT=asan \
	    t/matrix/run.sh

# make coverage: line coverage per source file of the module, for the
# unit tests (built again with --coverage, no sanitizers, into
# build/coverage/unit/) and for t/ (nginx --with-debug from
# $(COVERAGE_VERSION)'s tarball built with --coverage and the module
# built in: build/matrix/<version>/coverage/, the matrix's machinery);
# gcov only.  The figures and how to read them: unit/README.md
COV         := $(BUILD)/coverage
COVERAGE_VERSION ?= 1.22.1
COVERAGE_PORT    ?= 21660
COV_CFLAGS  := -std=gnu99 -g -O0 --coverage -Wall -Wextra \
               -Wno-unused-parameter -I$(MODDIR) -DAC_VECTORS='"$(VECTORS)"' \
               -DAC_ROOT='"$(ROOT)"'
COV_OBJS    := $(PROTO:%=$(COV)/unit/ngx_http_agentcore_%.o) \
               $(COV)/unit/ngx_http_agentcore_cas.o
# test_cli_sse tests the command-line client's decoder, not the module
COV_UNIT    := $(filter-out $(COV)/unit/test_cli_sse, \
               $(patsubst unit/%.c,$(COV)/unit/%,$(wildcard unit/test_*.c)))

$(COV)/unit/%.o: $(MODDIR)/%.c $(PROTO_HDRS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(COV_CFLAGS) -c -o $@ $<

$(COV)/unit/ngx_http_agentcore_cas.o: $(CAS_SRC) $(CAS_HDR) $(PROTO_HDRS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) -std=c++17 -g -O0 --coverage -I$(MODDIR) -c -o $@ $<

$(COV)/unit/test_%: unit/test_%.c $(COV_OBJS) $(wildcard unit/*.h)
	$(CC) $(COV_CFLAGS) -o $@ $< $(COV_OBJS) $(LIBS) -lcmocka \
	    $(UNIT_LDFLAGS_test_$*)

# the objects stay: their .gcno and .gcda are what gcov reads
.SECONDARY: $(COV_OBJS)

coverage: $(COV_UNIT) $(CLI) $(BUILD)/.deps
	@rm -f $(COV)/unit/*.gcda
	@set -e; for t in $(COV_UNIT); do echo "== $$t"; $$t > $$t.log 2>&1 \
	    || { tail -20 $$t.log; exit 1; }; done
	@rc=0; NGINX_TARBALLS=$(NGINX_TARBALLS) MATRIX_PORT=$(COVERAGE_PORT) \
	    MATRIX_VERSIONS=$(COVERAGE_VERSION) MATRIX_VARIANT=coverage \
	    MATRIX_NO_H2=1 t/matrix/run.sh || rc=$$?; \
	t/matrix/coverage.sh $(COV)/unit \
	    $(BUILD)/matrix/$(COVERAGE_VERSION)/coverage; exit $$rc

# make install: the module, its params file, the load_module snippet
# enabled as Debian's nginx packages do (modules-available +
# modules-enabled/50-...), the docs.  The directories come from
# `$(NGINX) -V` (--modules-path, --conf-path); DESTDIR, PREFIX and each
# directory variable can be overridden.  make uninstall removes them.
NGINX_V        := $(shell $(NGINX) -V 2>&1)
ngx_opt         = $(patsubst --$(1)=%,%,$(filter --$(1)=%,$(NGINX_V)))
PREFIX         ?= /usr
MODULESDIR     ?= $(or $(call ngx_opt,modules-path),$(PREFIX)/lib/nginx/modules)
NGX_CONF_PATH  := $(or $(call ngx_opt,conf-path),/etc/nginx/nginx.conf)
NGX_CONFDIR    ?= $(patsubst %/,%,$(dir $(NGX_CONF_PATH)))
MODAVAILDIR    ?= $(PREFIX)/share/nginx/modules-available
MODENABLEDDIR  ?= $(NGX_CONFDIR)/modules-enabled
DOCDIR         ?= $(PREFIX)/share/doc/libnginx-mod-http-agentcore
MOD_CONF       := mod-http-agentcore.conf
MOD_PRIO       ?= 50
INSTALL        ?= install
BINDIR         ?= $(PREFIX)/bin
MAN1DIR        ?= $(PREFIX)/share/man/man1
DOCS           := README.md docs/design.md docs/directives.md \
                  docs/credentials.md docs/tools.md docs/deploy-agentcore.md \
                  docs/security.md

install: $(MODULE_SO) $(CLI)
	$(INSTALL) -d $(DESTDIR)$(MODULESDIR) $(DESTDIR)$(NGX_CONFDIR) \
	    $(DESTDIR)$(MODAVAILDIR) $(DESTDIR)$(MODENABLEDDIR) \
	    $(DESTDIR)$(DOCDIR)/examples $(DESTDIR)$(BINDIR) \
	    $(DESTDIR)$(MAN1DIR)
	$(INSTALL) -m 755 $(CLI) $(DESTDIR)$(BINDIR)/
	$(INSTALL) -m 644 docs/agentcore-invoke.1 $(DESTDIR)$(MAN1DIR)/
	$(INSTALL) -m 644 $(MODULE_SO) $(DESTDIR)$(MODULESDIR)/
	$(INSTALL) -m 644 conf/agentcore_bedrock_params \
	    conf/agentcore_runtime_params $(DESTDIR)$(NGX_CONFDIR)/
	echo "load_module $(MODULESDIR)/ngx_http_agentcore_module.so;" \
	    > $(DESTDIR)$(MODAVAILDIR)/$(MOD_CONF)
	chmod 644 $(DESTDIR)$(MODAVAILDIR)/$(MOD_CONF)
	ln -sf $(MODAVAILDIR)/$(MOD_CONF) \
	    $(DESTDIR)$(MODENABLEDDIR)/$(MOD_PRIO)-$(MOD_CONF)
	$(INSTALL) -m 644 $(wildcard $(DOCS)) $(DESTDIR)$(DOCDIR)/
	$(INSTALL) -m 644 conf/nginx.conf $(DESTDIR)$(DOCDIR)/examples/

uninstall:
	rm -f $(DESTDIR)$(MODULESDIR)/ngx_http_agentcore_module.so \
	    $(DESTDIR)$(NGX_CONFDIR)/agentcore_bedrock_params \
	    $(DESTDIR)$(NGX_CONFDIR)/agentcore_runtime_params \
	    $(DESTDIR)$(MODENABLEDDIR)/$(MOD_PRIO)-$(MOD_CONF) \
	    $(DESTDIR)$(MODAVAILDIR)/$(MOD_CONF) \
	    $(DESTDIR)$(BINDIR)/agentcore-invoke \
	    $(DESTDIR)$(MAN1DIR)/agentcore-invoke.1
	rm -rf $(DESTDIR)$(DOCDIR)

# installs into a DESTDIR and runs the README's "Minimal nginx.conf"
# with $(NGINX) against the emulator (t/install/run.sh)
INSTALL_TEST_PORT ?= 21680
test-install: $(MODULE_SO)
	NGINX=$(NGINX) PORT=$(INSTALL_TEST_PORT) t/install/run.sh

# make deb: libnginx-mod-http-agentcore as Debian builds its nginx
# modules (debian/, dh-sequence-nginx from nginx-dev), from a copy of the
# tree in build/deb/src; the .deb lands in build/deb/.  make test-deb
# installs it with apt and runs test-install's README check, the suites
# and the HTTP/2 check against the installed module and the stock nginx.
DEB_PKGS    := debhelper dpkg-dev fakeroot build-essential nginx-dev
DEB_DIR     := $(BUILD)/deb
DEB_TEST_PORT ?= 21690

$(BUILD)/.deb-deps: | $(BUILD)/.deps
	@$(call apt_install,$(DEB_PKGS))
	@touch $@

deb: $(BUILD)/.deb-deps
	rm -rf $(DEB_DIR) && mkdir -p $(DEB_DIR)/src
	tar -C $(ROOT) --exclude=./build --exclude=./.git \
	    --exclude=./t/servroot -cf - . | tar -C $(DEB_DIR)/src -xf -
	cd $(DEB_DIR)/src && dpkg-buildpackage -b -us -uc \
	    > $(DEB_DIR)/build.log 2>&1 || { tail -40 $(DEB_DIR)/build.log; exit 1; }
	@ls $(DEB_DIR)/*.deb

test-deb: deb $(MODULE_SO)
	if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	    --reinstall $(DEB_DIR)/libnginx-mod-http-agentcore_*.deb \
	    $(DEB_DIR)/agentcore-invoke_*.deb
	dpkg-deb -f $(DEB_DIR)/libnginx-mod-http-agentcore_*.deb Depends
	/usr/bin/agentcore-invoke --version
	@# the stock configuration loads it through modules-enabled
	$(NGINX) -t -q
	NGINX=$(NGINX) PORT=$(DEB_TEST_PORT) INSTALLED=1 t/install/run.sh
	TEST_NGINX_PORT=$(DEB_TEST_PORT) TEST_NGINX_BINARY=$(NGINX) \
	TEST_NGINX_LOAD_MODULES="$(MODULESDIR)/ngx_http_agentcore_module.so \
	    $(BUILD)/ngx_http_agentcore_test_tool_module.so" \
	    AGENTCORE_ROOT=$(ROOT) t/prove.sh t/
	t/matrix/h2.sh $(NGINX) $(MODULESDIR)/ngx_http_agentcore_module.so \
	    $(DEB_TEST_PORT) $(BUILD)/h2-deb

# the AgentCore image's configuration and entrypoint (Dockerfile), run
# here against the installed package (make test-deb first) and the
# stock nginx: t/container/run.sh.  The image listens on 8080.
CONTAINER_TEST_PORT ?= 21681
test-container:
	PORT=$(CONTAINER_TEST_PORT) t/container/run.sh

# benchmarks (bench/README.md): a stand-in model and the nginx under test
# on CPU 0, the load generator on CPU 1, all on loopback.  make bench
# writes bench/results/latest.{json,md} and latency.png; bench-quick
# (under a minute) writes the same into build/bench/quick/
BENCH_PKGS  := gnuplot-nox

$(BUILD)/.bench-deps: | $(BUILD)/.deps
	@$(call apt_install,$(BENCH_PKGS))
	@touch $@

$(BUILD)/bench/loadgen: bench/loadgen.c | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) -std=gnu99 -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
	    -D_GNU_SOURCE -o $@ $< -lcurl

# the per-event floor: the protocol code alone, without nginx
$(BUILD)/bench/floor: bench/floor.c $(PROTO_SRCS) $(CAS_SRC) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CAS_CXXFLAGS) -O2 -c -o $(BUILD)/bench/cas.o $(CAS_SRC)
	$(CC) -std=gnu99 -O2 -Wall -Wextra -Wno-unused-parameter -Werror \
	    -I$(MODDIR) -o $@ $< $(PROTO_SRCS) $(BUILD)/bench/cas.o $(LIBS)

BENCH_RUN = ulimit -n $$(ulimit -Hn) && NGINX_BIN=$(NGINX) perl bench/run.pl \
	    --module $(MODULE_SO) --loadgen $(BUILD)/bench/loadgen \
	    --floor $(BUILD)/bench/floor --work $(BUILD)/bench

bench: $(MODULE_SO) $(BUILD)/bench/loadgen $(BUILD)/bench/floor \
	$(BUILD)/.bench-deps
	$(BENCH_RUN) --results $(ROOT)/bench/results

bench-quick: $(MODULE_SO) $(BUILD)/bench/loadgen $(BUILD)/bench/floor \
	$(BUILD)/.bench-deps
	$(BENCH_RUN) --quick --results $(BUILD)/bench/quick

clean:
	rm -rf $(BUILD) t/servroot t/servroot-* t/servroot.lock
