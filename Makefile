# image-build worker fleet: build, test, run, package.
# `make` builds the programs; `make check` runs every test that needs no VM;
# `make run` is the main job on the embedded default.

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/ib-worker
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system

CC	?= gcc
PKGS	 = libcurl json-c openssl libxml-2.0
CFLAGS	?= -O2 -g
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	   -D_GNU_SOURCE -Iworker $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ifeq ($(SANITIZE),1)
CFLAGS	+= -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif

B	 = build$(if $(filter 1,$(SANITIZE)),-san)

# The daemon: every .c under worker/ except the other programs and tests.
WORKER_SRCS = $(wildcard worker/*.c worker/jobs/*.c worker/targets/*.c)
WORKER_OBJS = $(WORKER_SRCS:%.c=$(B)/%.o)
WORKER_LIB  = $(filter-out $(B)/worker/main.o,$(WORKER_OBJS))
UNIT_SRCS   = $(wildcard worker/tests/unit/test_*.c)
UNIT_BINS   = $(UNIT_SRCS:worker/tests/unit/%.c=$(B)/tests/%)

# Other programs, one folder each; they share util.c and log.c.
COMMON_OBJS = $(B)/worker/util.o $(B)/worker/log.o
VMCHECK_SRCS = $(wildcard worker/vmcheck/*.c)
BUILDER_SRCS = $(wildcard worker/builder/*.c)
DEPSOLVER_SRCS = $(wildcard worker/depsolver/*.c)
BACKLOG_SRCS = $(wildcard worker/backlog/*.c)
LOGSHIP_SRCS = $(wildcard worker/logship/*.c)

PROGS	 = $(B)/ib-worker $(if $(VMCHECK_SRCS),$(B)/ib-vmcheck) \
	   $(if $(BUILDER_SRCS),$(B)/ib-build) \
	   $(if $(DEPSOLVER_SRCS),$(B)/ib-depsolve) \
	   $(if $(BACKLOG_SRCS),$(B)/ib-backlog) \
	   $(if $(LOGSHIP_SRCS),$(B)/ib-logship)

all: deps-build $(PROGS)

# NO_DEPS=1 skips the apt installer (package builds on Fedora/RHEL).
deps-build:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh build

deps:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh all

$(B)/%.o: %.c $(wildcard worker/*.h worker/*/*.h)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) -c -o $@ $<

$(B)/ib-worker: $(WORKER_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-vmcheck: $(VMCHECK_SRCS:%.c=$(B)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libguestfs 2>/dev/null)

$(B)/ib-build: $(BUILDER_SRCS:%.c=$(B)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libguestfs 2>/dev/null)

$(B)/ib-depsolve: $(DEPSOLVER_SRCS:%.c=$(B)/%.o) $(COMMON_OBJS)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lsolvext -lsolv -lz

$(B)/ib-backlog: $(BACKLOG_SRCS:%.c=$(B)/%.o) $(COMMON_OBJS) $(B)/worker/http.o $(B)/worker/aws.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

# The log shipper: SigV4 and IMDSv2 from the worker's aws.c and http.c.
$(B)/worker/logship/%.o: CFLAGS += $(shell pkg-config --cflags libsystemd 2>/dev/null)
$(B)/ib-logship: $(LOGSHIP_SRCS:%.c=$(B)/%.o) $(COMMON_OBJS) $(B)/worker/http.o $(B)/worker/aws.o
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libsystemd 2>/dev/null)

$(B)/tests/%: worker/tests/unit/%.c $(WORKER_LIB)
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(LDFLAGS) -o $@ $< $(WORKER_LIB) $(LDLIBS) -lcmocka

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; $$t || exit 1; done

check: deps all $(UNIT_BINS)
	@B=$(B) ./ci/check.sh $(UNIT_BINS)

bench: deps all
	@B=$(B) ./ci/bench.sh

run: deps all
	@B=$(B) ./ci/run-local.sh

check-vm: deps all
	@B=$(B) ./test-vm/run.sh

fuzz: deps
	@./ci/fuzz.sh

ami: deps all
	@B=$(B) PLATFORM=$(PLATFORM) ./packer/build.sh

deb: deps all
	@B=$(B) ./ci/package.sh deb

rpm: deps all
	@B=$(B) ./ci/package.sh rpm

install: all
	@B=$(B) DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) \
	    UNITDIR=$(UNITDIR) ./ci/install.sh

clean:
	rm -rf build build-san

.PHONY: all deps deps-build unit check check-vm bench run fuzz ami deb rpm \
	clean install
