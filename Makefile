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
CFLAGS	+= $(EXTRA_WARN)
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	   -D_GNU_SOURCE -MMD -MP $(shell pkg-config --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell pkg-config --libs $(PKGS) 2>/dev/null) -lpthread -lm
ifeq ($(SANITIZE),1)
CFLAGS	+= -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif

B	 = build$(if $(filter 1,$(SANITIZE)),-san)

# worker/ holds the programs side by side, and two libraries they share:
#   lib/     libc, curl and json-c helpers (util, log, http, exec, ...)
#   cloud/   clients of cloud and registry APIs, on top of lib/
# Each folder sees only its own headers and those of the layers below it.
LIB_SRCS = $(addprefix worker/lib/,backoff.c exec.c http.c http_multi.c jsonutil.c \
	   log.c toml.c util.c xml.c)
CLOUD_SRCS = $(addprefix worker/cloud/,aws.c aws_creds.c aws_imds.c \
	   azure.c azure_blob.c azure_sharedkey.c cloud.c ec2.c gce.c gcp.c \
	   gcp_auth.c gcs.c registry.c s3.c s3_multipart.c)
DAEMON_SRCS = $(addprefix worker/daemon/,api.c asg.c auth.c cache.c \
	   config.c dnfjson.c health.c job.c loop.c metrics.c sdnotify.c \
	   watch.c) \
	   $(addprefix worker/daemon/jobs/,aws_ec2.c container_resolve.c \
	   depsolve.c file_resolve.c jobs.c osbuild.c ostree_resolve.c \
	   search_packages.c) \
	   $(addprefix worker/daemon/targets/,aws_ami.c aws_s3.c \
	   azure_image.c common.c gcp_image.c run_targets.c targets.c \
	   worker_server.c)
BUILDER_SRCS = $(addprefix worker/builder/,disk_direct.c gen.c main.c \
	   manifest.c monitor.c run.c sources.c stage_image.c stage_tree.c \
	   stages.c store.c)
DEPSOLVER_SRCS = $(addprefix worker/depsolver/,fetch.c gpg.c main.c \
	   release.c repos.c request.c solve.c)
VMCHECK_SRCS = $(addprefix worker/vmcheck/,appliance.c host.c kvm.c main.c \
	   proc.c report.c tools.c)
BACKLOG_SRCS = $(addprefix worker/backlog/,cw.c main.c prom.c)
LOGSHIP_SRCS = $(addprefix worker/logship/,cwl.c event.c journal.c main.c)

LIB_A	 = $(B)/libib.a
CLOUD_A	 = $(B)/libibcloud.a
DAEMON_A = $(B)/libibdaemon.a	# the daemon but main.c, for its unit tests

# Unit tests live in each folder's tests/ as test_NAME.c.
UNIT_SRCS = $(wildcard worker/lib/tests/test_*.c worker/cloud/tests/test_*.c \
	   worker/daemon/tests/test_*.c worker/depsolver/tests/test_*.c)
UNIT_BINS = $(addprefix $(B)/tests/,$(notdir $(UNIT_SRCS:.c=)))

PROGS	 = $(B)/ib-worker $(B)/ib-vmcheck $(B)/ib-build $(B)/ib-depsolve \
	   $(B)/ib-backlog $(B)/ib-logship

all: deps-build $(PROGS)

# NO_DEPS=1 skips the apt installer (package builds on Fedora/RHEL).
deps-build:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh build

deps:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh all

# Header search paths: a folder's own, then the layers it stands on.
$(B)/worker/lib/%.o:	   INC = -Iworker/lib
$(B)/worker/cloud/%.o:	   INC = -Iworker/lib -Iworker/cloud
$(B)/worker/daemon/%.o:	   INC = -Iworker/lib -Iworker/cloud -Iworker/daemon
$(B)/worker/builder/%.o:   INC = -Iworker -Iworker/lib
$(B)/worker/depsolver/%.o: INC = -Iworker -Iworker/lib
$(B)/worker/vmcheck/%.o:   INC = -Iworker/vmcheck -Iworker/lib \
	$(shell pkg-config --cflags libguestfs 2>/dev/null)
$(B)/worker/backlog/%.o:   INC = -Iworker/lib -Iworker/cloud
$(B)/worker/logship/%.o:   INC = -Iworker/lib -Iworker/cloud \
	$(shell pkg-config --cflags libsystemd 2>/dev/null)

$(B)/%.o: %.c
	@mkdir -p $(@D)
	$(CC) $(CFLAGS) $(INC) -c -o $@ $<

objs = $(patsubst %.c,$(B)/%.o,$(1))

$(LIB_A): $(call objs,$(LIB_SRCS))
$(CLOUD_A): $(call objs,$(CLOUD_SRCS))
$(DAEMON_A): $(call objs,$(DAEMON_SRCS))
$(LIB_A) $(CLOUD_A) $(DAEMON_A):
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/ib-worker: $(B)/worker/daemon/main.o $(DAEMON_A) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-vmcheck: $(call objs,$(VMCHECK_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libguestfs 2>/dev/null)

$(B)/ib-build: $(call objs,$(BUILDER_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libguestfs 2>/dev/null)

$(B)/ib-depsolve: $(call objs,$(DEPSOLVER_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lsolvext -lsolv -lz

$(B)/ib-backlog: $(call objs,$(BACKLOG_SRCS)) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-logship: $(call objs,$(LOGSHIP_SRCS)) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell pkg-config --libs libsystemd 2>/dev/null)

# A unit test sees the headers of every layer; it links the libraries,
# which bring in only the objects it uses.
define unit_rule
$(B)/tests/$(notdir $(1:.c=)): $(1) $(DAEMON_A) $(CLOUD_A) $(LIB_A)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iworker -Iworker/lib -Iworker/cloud -Iworker/daemon \
	    $$(LDFLAGS) -o $$@ $(1) $(DAEMON_A) $(CLOUD_A) $(LIB_A) \
	    $$(LDLIBS) -lcmocka
endef
$(foreach t,$(UNIT_SRCS),$(eval $(call unit_rule,$(t))))

-include $(shell find $(B)/worker $(B)/tests -type f -name '*.d' 2>/dev/null)

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
