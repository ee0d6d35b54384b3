# ngx_http_agentcore_module
#
#   make run     install what is needed, build, start the emulator + nginx
#   make test    install, build, run unit tests, a short fuzz, and t/
#   make fuzz    longer libFuzzer runs (FUZZ_SECONDS per target)
#   make bench   benchmarks (see bench/)

SHELL       := /bin/bash
ROOT        := $(abspath .)
BUILD       := $(ROOT)/build
MODDIR      := $(ROOT)/ngx_http_agentcore_module
NGX_SRC     ?= /usr/share/nginx/src
NGINX       ?= /usr/sbin/nginx
MODULE_SO   := $(BUILD)/ngx_http_agentcore_module.so

# the protocol layer: plain C, no nginx types
PROTO       := eventstream sigv4 json converse calculator history awscreds
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
               libhttp-message-perl liburi-perl libipc-run-perl

AGENTCORE_PORT ?= 8080

.PHONY: all deps module unit fuzz fuzz-quick t selftest test run bench \
        bench-quick clean

all: module

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

# unit tests (cmocka) of the protocol layer
build/unit/cas.o: $(CAS_SRC) $(CAS_HDR) $(PROTO_HDRS) | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CXX) $(CAS_CXXFLAGS) $(CAS_SANITIZE) -c -o $@ $<

build/unit/%: unit/%.c $(PROTO_SRCS) $(PROTO_HDRS) $(wildcard unit/*.h) \
                 build/unit/cas.o | $(BUILD)/.deps
	@mkdir -p $(dir $@)
	$(CC) $(UNIT_CFLAGS) -fsanitize=address,undefined -o $@ $< \
	    $(PROTO_SRCS) build/unit/cas.o $(LIBS) -lcmocka

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

build/fuzz/%: fuzz/%.c $(PROTO_SRCS) $(PROTO_HDRS) build/fuzz/cas.o \
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
# Giac's process-lifetime tables (unit/lsan.supp)
FUZZ_ENV    := $(SAN_ENV) \
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

# Test::Nginx suites: the real Test::Nginx when installed, else ours
TEST_NGINX_ENV := TEST_NGINX_BINARY=$(NGINX) \
    TEST_NGINX_LOAD_MODULES=$(MODULE_SO) AGENTCORE_ROOT=$(ROOT)
PROVE_INC = $(shell perl -MTest::Nginx::Socket -e1 2>/dev/null \
              || echo -It/compat)

t: $(MODULE_SO)
	$(TEST_NGINX_ENV) prove $(PROVE_INC) -It/lib t/

# the emulator's and our Test::Nginx runner's own tests
selftest: $(BUILD)/.deps
	prove emulator/t/
	prove -It/compat t/compat/t/

test: $(BUILD)/.deps
	$(MAKE) module
	$(MAKE) unit
	$(MAKE) fuzz-quick
	$(MAKE) selftest
	$(MAKE) t

run: $(MODULE_SO)
	AGENTCORE_PORT=$(AGENTCORE_PORT) NGINX_BIN=$(NGINX) MODULE_SO=$(MODULE_SO) \
	    ROOT=$(ROOT) ./conf/run.sh

# benchmarks (bench/README.md): a stand-in model and the nginx under test
# on CPU 0, the load generator on CPU 1, all on loopback.  make bench
# writes bench/results/latest.{json,md} and latency.png; bench-quick
# (under a minute) writes the same into build/bench/quick/
BENCH_PKGS  := gnuplot-nox

$(BUILD)/.bench-deps: | $(BUILD)/.deps
	@missing=$$(for p in $(BENCH_PKGS); do \
	    dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null \
	    | grep -q 'install ok installed' || echo $$p; done); \
	if [ -n "$$missing" ]; then \
	    echo "installing: $$missing"; \
	    if [ "$$(id -u)" != 0 ]; then SUDO=sudo; fi; \
	    $$SUDO apt-get update -qq && \
	    DEBIAN_FRONTEND=noninteractive $$SUDO apt-get install -y -qq \
	        --no-install-recommends $$missing; \
	fi
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
	rm -rf $(BUILD) t/servroot
