# image-build worker fleet: build, test, run, package.
# `make` builds the programs; `make check` runs every test that needs no VM;
# `make run` is the main job on the embedded default.

PREFIX	?= /usr/local
DESTDIR	?=
BINDIR	 = $(PREFIX)/bin
LIBEXECDIR = $(PREFIX)/libexec/ib-worker
SYSCONFDIR ?= /etc
UNITDIR	?= $(PREFIX)/lib/systemd/system

# ARCH=arm64 cross-builds everything into build-arm64/ with Debian's cross
# toolchain against an unpacked arm64 sysroot (ci/arm64-sysroot.sh; the
# :arm64 -dev packages cannot all be installed beside the amd64 ones);
# `make unit ARCH=arm64` runs the unit tests under qemu-user.
# aarch64 and x86_64 (the kernel's names, the ones `make ami` takes) are
# arm64 and amd64 here.
ARCH	?= $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
override ARCH := $(patsubst aarch64,arm64,$(patsubst x86_64,amd64,$(ARCH)))
HOST_ARCH := $(shell dpkg --print-architecture 2>/dev/null || echo amd64)
ifneq ($(ARCH),$(HOST_ARCH))
ifneq ($(ARCH),arm64)
$(error ARCH=$(ARCH): only arm64 is cross-built (or the host's, $(HOST_ARCH)))
endif
CROSS	 = aarch64-linux-gnu
SYSROOT	 = $(CURDIR)/build-arm64/sysroot
CC	 = $(CROSS)-gcc
AR	 = $(CROSS)-ar
CPPFLAGS += --sysroot=$(SYSROOT)
LDFLAGS	+= --sysroot=$(SYSROOT)
PKG_CONFIG = PKG_CONFIG_SYSROOT_DIR=$(SYSROOT) \
	PKG_CONFIG_LIBDIR=$(SYSROOT)/usr/lib/$(CROSS)/pkgconfig:$(SYSROOT)/usr/share/pkgconfig \
	pkg-config
# The unit tests, arm64 binaries, under qemu-user with the sysroot's
# libraries (no binfmt needed).
RUN_UNIT = IB_QEMU_USER=1 qemu-aarch64-static -L $(SYSROOT)
B_SUFFIX = -arm64
# Everything compiled waits for the sysroot (order only).
SYSDEP	 = $(SYSROOT)/.packages
else
CC	?= gcc
PKG_CONFIG = pkg-config
endif
PKGS	 = libcurl json-c openssl libxml-2.0 krb5-gssapi krb5
CFLAGS	?= -O2 -g
CFLAGS	+= -Wmissing-prototypes -Wcast-qual $(EXTRA_WARN)
CFLAGS	+= -std=gnu11 -Wall -Wextra -Werror -Wshadow -Wno-unused-parameter \
	   -D_GNU_SOURCE -MMD -MP $(shell $(PKG_CONFIG) --cflags $(PKGS) 2>/dev/null)
LDLIBS	+= $(shell $(PKG_CONFIG) --libs $(PKGS) 2>/dev/null) -lpthread -lm -lz
ifeq ($(SANITIZE),1)
CFLAGS	+= -O1 -fsanitize=address,undefined -fno-omit-frame-pointer \
	   -fno-sanitize-recover=undefined
LDFLAGS	+= -fsanitize=address,undefined
endif

B	 = build$(B_SUFFIX)$(if $(filter 1,$(SANITIZE)),-san)

# worker/ holds the programs side by side, and two libraries they share:
#   lib/     libc, curl and json-c helpers (util, log, http, exec, ...)
#   cloud/   clients of cloud and registry APIs, on top of lib/
# Each folder sees only its own headers and those of the layers below it.
LIB_SRCS = $(addprefix worker/lib/,backoff.c cli.c exec.c frame.c http.c http_multi.c \
	   jsonutil.c log.c toml.c util.c xml.c)
CLOUD_SRCS = $(addprefix worker/cloud/,aws.c aws_creds.c aws_imds.c \
	   azure.c azure_blob.c azure_sharedkey.c cloud.c ec2.c gce.c gcp.c \
	   gcp_auth.c gcs.c koji.c oci.c pulp.c registry.c s3.c s3_multipart.c \
	   vsphere.c)
DAEMON_SRCS = $(addprefix worker/daemon/,api.c asg.c auth.c cache.c \
	   config.c health.c job.c loop.c metrics.c sdnotify.c watch.c) \
	   $(addprefix worker/daemon/jobs/,aws_ec2.c bootc_info_resolve.c \
	   container_resolve.c depsolve.c dnfjson.c file_resolve.c jobs.c \
	   koji_finalize.c koji_init.c kojihub.c \
	   osbuild.c ostree_resolve.c search_packages.c) \
	   $(addprefix worker/daemon/executor/,agent_client.c executor.c \
	   executor_ec2.c executor_host.c executor_qemu.c) \
	   $(addprefix worker/daemon/targets/,aws_ami.c aws_s3.c \
	   azure_image.c azure_storage.c common.c container.c gcp_image.c \
	   koji_upload.c oci_image.c progress.c pulp_ostree.c run_targets.c \
	   targets.c vmware.c worker_server.c)
BUILDER_SRCS = $(addprefix worker/builder/,disk_direct.c gen.c ids.c inputs.c \
	   main.c manifest.c monitor.c pyjson.c run.c schema.c sources.c \
	   stage_image.c stage_tree.c stages.c store.c)
DEPSOLVER_SRCS = $(addprefix worker/depsolver/,fetch.c gpg.c main.c \
	   release.c repo_common.c repo_deb.c repo_rpmmd.c repos.c request.c \
	   solve.c)
VMCHECK_SRCS = $(addprefix worker/vmcheck/,appliance.c host.c kvm.c main.c \
	   proc.c report.c tools.c)
BACKLOG_SRCS = $(addprefix worker/backlog/,cw.c main.c prom.c)
LOGSHIP_SRCS = $(addprefix worker/logship/,cwl.c event.c journal.c main.c)
MAINT_SRCS = $(addprefix worker/maintenance/,main.c prune_aws.c prune_azure.c \
	   prune_gcp.c)
AGENT_SRCS = $(addprefix worker/agent/,main.c session.c)

LIB_A	 = $(B)/libib.a
CLOUD_A	 = $(B)/libibcloud.a
DAEMON_A = $(B)/libibdaemon.a	# the daemon but main.c, for its unit tests
BUILDER_A = $(B)/libibbuild.a	# ib-build but main.c, for its unit tests

# Unit tests live in each folder's tests/ as test_NAME.c.
UNIT_SRCS = $(wildcard worker/lib/tests/test_*.c worker/cloud/tests/test_*.c \
	   worker/daemon/tests/test_*.c worker/depsolver/tests/test_*.c)
BUILDER_UNIT_SRCS = $(wildcard worker/builder/tests/test_*.c)
UNIT_BINS = $(addprefix $(B)/tests/,$(notdir $(UNIT_SRCS:.c=) \
	   $(BUILDER_UNIT_SRCS:.c=)))

PROGS	 = $(B)/ib-worker $(B)/ib-vmcheck $(B)/ib-build $(B)/ib-depsolve \
	   $(B)/ib-backlog $(B)/ib-logship $(B)/ib-maintenance $(B)/ib-agent

all: deps-build $(PROGS)

# NO_DEPS=1 skips the apt installer (package builds on Fedora/RHEL).
deps-build:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh build

ifdef CROSS
deps-build: $(SYSDEP)
$(SYSDEP):
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh $(ARCH)
	./ci/arm64-sysroot.sh $(SYSROOT)
endif

deps:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh all

# Header search paths: a folder's own, then the layers it stands on. They
# hold for the folder's objects and for its headers' self-compile checks.
$(B)/worker/lib/%:	 INC = -Iworker/lib
$(B)/worker/cloud/%:	 INC = -Iworker/lib -Iworker/cloud
$(B)/worker/daemon/%:	 INC = -Iworker/lib -Iworker/cloud -Iworker/daemon
$(B)/worker/builder/%:	 INC = -Iworker -Iworker/lib
$(B)/worker/depsolver/%: INC = -Iworker -Iworker/lib
$(B)/worker/vmcheck/%:	 INC = -Iworker/vmcheck -Iworker/lib \
	$(shell $(PKG_CONFIG) --cflags libguestfs 2>/dev/null)
$(B)/worker/backlog/%:	 INC = -Iworker/lib -Iworker/cloud
$(B)/worker/maintenance/%: INC = -Iworker/lib -Iworker/cloud
$(B)/worker/agent/%:	 INC = -Iworker/agent -Iworker/lib
$(B)/worker/logship/%:	 INC = -Iworker/lib -Iworker/cloud \
	$(shell $(PKG_CONFIG) --cflags libsystemd 2>/dev/null)

$(B)/%.o: %.c | $(SYSDEP)
	@mkdir -p $(@D)
	$(CC) $(CPPFLAGS) $(CFLAGS) $(INC) -c -o $@ $<

objs = $(patsubst %.c,$(B)/%.o,$(1))

# Every header compiles on its own, with its folder's search path: it
# includes what it uses. A stamp per header, redone when it changes.
HDRS	 = $(shell find worker -name '*.h' -not -path '*/tests/*' | sort)
HDR_OKS	 = $(patsubst %.h,$(B)/%.h.ok,$(HDRS))

$(B)/%.h.ok: %.h | $(SYSDEP)
	@mkdir -p $(@D)
	$(CC) $(filter-out -MMD -MP,$(CFLAGS)) $(INC) -fsyntax-only \
	    -include $< -x c /dev/null
	@touch $@

hdrcheck: $(HDR_OKS)

$(LIB_A): $(call objs,$(LIB_SRCS))
$(CLOUD_A): $(call objs,$(CLOUD_SRCS))
$(DAEMON_A): $(call objs,$(DAEMON_SRCS))
$(BUILDER_A): $(call objs,$(filter-out %/main.c,$(BUILDER_SRCS)))
$(LIB_A) $(CLOUD_A) $(DAEMON_A) $(BUILDER_A):
	@rm -f $@
	$(AR) rcs $@ $^

$(B)/ib-worker: $(B)/worker/daemon/main.o $(DAEMON_A) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-vmcheck: $(call objs,$(VMCHECK_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKG_CONFIG) --libs libguestfs 2>/dev/null)

$(B)/ib-build: $(B)/worker/builder/main.o $(BUILDER_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKG_CONFIG) --libs libguestfs 2>/dev/null)

$(B)/ib-depsolve: $(call objs,$(DEPSOLVER_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) -lsolvext -lsolv -lz

$(B)/ib-backlog: $(call objs,$(BACKLOG_SRCS)) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-maintenance: $(call objs,$(MAINT_SRCS)) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-agent: $(call objs,$(AGENT_SRCS)) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS)

$(B)/ib-logship: $(call objs,$(LOGSHIP_SRCS)) $(CLOUD_A) $(LIB_A)
	$(CC) $(LDFLAGS) -o $@ $^ $(LDLIBS) $(shell $(PKG_CONFIG) --libs libsystemd 2>/dev/null)

# A unit test sees the headers of every layer; it links the libraries,
# which bring in only the objects it uses.
# worker/tests/c/ holds what C unit tests share (a loopback HTTP server).
TESTC_OBJS = $(B)/worker/tests/c/loopsrv.o
$(B)/worker/tests/c/%.o:   INC = -Iworker/tests/c

define unit_rule
$(B)/tests/$(notdir $(1:.c=)): $(1) $(TESTC_OBJS) $(DAEMON_A) $(CLOUD_A) $(LIB_A) | $(SYSDEP)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iworker -Iworker/lib -Iworker/cloud -Iworker/daemon \
	    -Iworker/tests/c $$(LDFLAGS) -o $$@ $(1) $(TESTC_OBJS) \
	    $(DAEMON_A) $(CLOUD_A) $(LIB_A) $$(LDLIBS) -lcmocka
endef
$(foreach t,$(UNIT_SRCS),$(eval $(call unit_rule,$(t))))

# The builder's unit tests see its headers and lib's, and link ib-build's
# objects but main.o.
define builder_unit_rule
$(B)/tests/$(notdir $(1:.c=)): $(1) $(BUILDER_A) $(LIB_A) | $(SYSDEP)
	@mkdir -p $$(@D)
	$$(CC) $$(CFLAGS) -Iworker -Iworker/lib $$(LDFLAGS) -o $$@ $(1) \
	    $(BUILDER_A) $(LIB_A) $$(LDLIBS) \
	    $$(shell $(PKG_CONFIG) --libs libguestfs 2>/dev/null) -lcmocka
endef
$(foreach t,$(BUILDER_UNIT_SRCS),$(eval $(call builder_unit_rule,$(t))))

-include $(shell find $(B)/worker $(B)/tests -type f -name '*.d' 2>/dev/null)

unit: $(UNIT_BINS)
	@for t in $(UNIT_BINS); do echo "== $$t"; $(RUN_UNIT) $$t || exit 1; done

check: deps all hdrcheck $(UNIT_BINS)
	@B=$(B) ./ci/check.sh $(UNIT_BINS)

# The load test of the whole local stack with faults (README "Load test"):
# 10 minutes, >= 1000 composes, 8 workers; SHORT=1: two minutes at most, 3
# workers (make check runs that one too). Report and plots in $(B)/loadtest.
loadtest: deps all
	B=$(B) ./loadtest/ib-loadtest local $(if $(filter 1,$(SHORT)),--short) \
	    --out $(B)/loadtest

# BENCH=NAME runs only ci/bench-NAME.sh (BENCH=builders: ib-build beside
# mmdebstrap + disk, into $(B)/bench/builders.json).
bench: deps all
	@B=$(B) BENCH=$(BENCH) ./ci/bench.sh

run: deps all
	@B=$(B) ./ci/run-local.sh

check-vm: deps all
	@B=$(B) ./test-vm/run.sh

fuzz: deps
	@./ci/fuzz.sh

ami: deps all
ifdef CROSS
	@./ci/arm64-sysroot.sh $(SYSROOT)
endif
	@B=$(B) PLATFORM=$(PLATFORM) ARCH=$(ARCH) ./packer/build.sh

# The packages build the programs themselves, from a copy of the tracked
# tree (debhelper, rpmbuild); only their build dependencies are installed.
# ARCH=arm64: cross-built against the sysroot and its dpkg records
# (ci/arm64-sysroot.sh, run again: it keeps what is up to date).
deb:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh deb
ifdef CROSS
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh $(ARCH)
	@./ci/arm64-sysroot.sh $(SYSROOT)
endif
	@B=$(B) ARCH=$(ARCH) SYSROOT=$(SYSROOT) ./ci/package.sh deb

rpm:
	@[ -n "$(NO_DEPS)" ] || ./ci/deps.sh rpm
	@B=$(B) ./ci/package.sh rpm

install: all
	@B=$(B) DESTDIR=$(DESTDIR) PREFIX=$(PREFIX) SYSCONFDIR=$(SYSCONFDIR) \
	    UNITDIR=$(UNITDIR) ./ci/install.sh

clean:
	rm -rf build build-san build-arm64/ib-* build-arm64/lib* \
	    build-arm64/worker build-arm64/tests

.PHONY: all deps deps-build unit hdrcheck check check-vm bench loadtest run \
	fuzz ami deb rpm clean install
