# kernelsight: `make demo` runs the main job, `make test` passes the tests.
# Both install what a fresh Debian machine lacks (apt packages as root, a .venv).

SHELL := /bin/bash
PYTHON ?= python3
VENV := .venv
VPY := $(VENV)/bin/python
STAMPS := .stamps

# Debian packages: the BPF toolchain, and the real tools the tests measure against.
APT_PACKAGES := clang llvm bpftool libbpf-dev libbpf1 linux-libc-dev make \
	prometheus prometheus-node-exporter fio iperf3 stress-ng sqlite3 \
	nftables iproute2 procps util-linux systemd clickhouse-server clickhouse-client

# The machine built for: this one's unless ARCH= is given (x86_64 or aarch64).  Its
# BPF target (libbpf's __TARGET_ARCH_*) and where its syscall numbers come from:
# x86_64's own header, or the generic table arm64 uses (with the extras it asks for).
ARCH ?= $(shell uname -m)
BPF_ARCH_x86_64 := x86
BPF_ARCH_aarch64 := arm64
BPF_ARCH := $(or $(BPF_ARCH_$(ARCH)),$(error ARCH=$(ARCH): kernelsight builds for x86_64 or aarch64))
SYSCALL_HEADER_x86_64 := asm/unistd.h
SYSCALL_HEADER_aarch64 := asm-generic/unistd.h -D__ARCH_WANT_RENAMEAT -D__ARCH_WANT_NEW_STAT \
	-D__ARCH_WANT_SET_GET_RLIMIT -D__ARCH_WANT_SYS_CLONE3
# The one list of BPF compiler flags: tests and benches ask `make print-bpf-cflags`.
BPF_CFLAGS := -g -O2 -target bpf -mcpu=v3 -D__TARGET_ARCH_$(BPF_ARCH) -Wall -Wno-unused-function \
	-I $(CURDIR)/bpf
BPF_SRCS := $(wildcard bpf/*.bpf.c)
BPF_OBJS := $(BPF_SRCS:.c=.o)
BPF_HDRS := $(wildcard bpf/*.bpf.h)
PYTEST_ARGS ?=

.PHONY: all setup apt venv build bpf schema docs test demo bench clean print-bpf-cflags print-syscalls \
	install uninstall install-systemd

all: build

## setup: install apt packages (when root) and the .venv; quick when nothing is missing
setup: apt venv

apt:
	@missing=$$(for p in $(APT_PACKAGES); do \
		dpkg-query -W -f='$${Status}\n' $$p 2>/dev/null | grep -q 'ok installed' || echo $$p; done); \
	if ! $(PYTHON) -c 'import ensurepip, venv' 2>/dev/null; then missing="$$missing python3-venv"; fi; \
	if [ -n "$$missing" ]; then \
		if [ "$$(id -u)" != 0 ]; then echo "missing packages: $$missing (run make setup as root)"; exit 1; fi; \
		echo "installing:$$missing"; \
		apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq $$missing >/dev/null; \
	fi

venv: $(STAMPS)/venv

$(STAMPS)/venv: pyproject.toml setup.py
	@test -x $(VPY) || $(PYTHON) -m venv $(VENV)
	$(VPY) -m pip install -q --upgrade pip
	$(VPY) -m pip install -q -e '.[test,bench]'
	@mkdir -p $(STAMPS) && touch $@

## build: the BPF objects and the syscall table (schema.sql, schema.clickhouse.sql and docs/events.md are
## generated from the registry by `make schema docs` and committed; tests compare them)
build: bpf

bpf: $(BPF_OBJS) bpf/syscalls.tsv

bpf/vmlinux.h:
	bpftool btf dump file /sys/kernel/btf/vmlinux format c > $@.tmp && mv $@.tmp $@

bpf/%.bpf.o: bpf/%.bpf.c bpf/vmlinux.h $(BPF_HDRS)
	clang $(BPF_CFLAGS) -c $< -o $@

# ARCH's syscall names, from the kernel UAPI headers at build time.
bpf/syscalls.tsv:
	$(MAKE) -s --no-print-directory print-syscalls > $@.tmp && mv $@.tmp $@

print-syscalls:
	@set -o pipefail; echo '#include <$(firstword $(SYSCALL_HEADER_$(ARCH)))>' \
		| cc -dM -E $(wordlist 2,99,$(SYSCALL_HEADER_$(ARCH))) - \
		| awk '$$2 ~ /^__NR_/ && $$3 ~ /^[0-9]+$$/ {sub("__NR_", "", $$2); print $$3 "\t" $$2}' \
		| sort -n

print-bpf-cflags:
	@echo $(BPF_CFLAGS)

schema: $(STAMPS)/venv
	$(VPY) -m kernelsight.ingest.schema > schema.sql.tmp && mv schema.sql.tmp schema.sql
	$(VPY) -m kernelsight.ingest.clickhouse_schema > schema.clickhouse.sql.tmp \
		&& mv schema.clickhouse.sql.tmp schema.clickhouse.sql

docs: $(STAMPS)/venv
	$(VPY) -m kernelsight.ingest.docs > docs/events.md.tmp && mv docs/events.md.tmp docs/events.md

## test: setup + build + pytest
test: setup build
	$(VENV)/bin/pytest $(PYTEST_ARGS)

## demo: every collector for ~20 s into one database, then the summary and the textfile
demo: setup build
	$(VPY) -m kernelsight.query.demo

## bench: benchmarks under bench/, printing ratios against named baselines
bench: setup build
	BENCH=$(BENCH) QUICK=$(QUICK) $(VPY) bench/run.py

## install: kernelsight in its own venv under PREFIX (Debian's python is externally managed:
## `pip install .` into it is refused), every ks-* command linked into BINDIR, so cron, systemd
## and a login shell find them with no environment.  `make uninstall` removes both.
PREFIX ?= /opt/kernelsight
BINDIR ?= /usr/local/bin
INSTALL_PYTHON ?= $(if $(wildcard /usr/bin/python3),/usr/bin/python3,$(PYTHON))
# The console scripts, as pyproject.toml declares them.
SCRIPTS = $(shell sed -n 's/^\(ks[a-z-]*\) = ".*/\1/p' pyproject.toml)

install: bpf
	@test -f $(PREFIX)/pyvenv.cfg || $(INSTALL_PYTHON) -m venv $(PREFIX)
	$(PREFIX)/bin/python -m pip install -q --upgrade .
	install -d $(BINDIR)
	for s in $(SCRIPTS); do ln -sfn $(PREFIX)/bin/$$s $(BINDIR)/$$s; done
	@echo "installed in $(PREFIX); commands linked into $(BINDIR): $(SCRIPTS)"

uninstall:
	for s in $(SCRIPTS); do \
		if [ "$$(readlink $(BINDIR)/$$s)" = "$(PREFIX)/bin/$$s" ]; then rm -f $(BINDIR)/$$s; fi; done
	@# only a venv (pyvenv.cfg) is removed whole: PREFIX=/usr must never be
	@if [ -f $(PREFIX)/pyvenv.cfg ]; then rm -rf $(PREFIX); echo "removed $(PREFIX)"; fi

## install-systemd: the units of contrib/systemd (ks-* from BINDIR), the kernelsight user
## and /etc/kernelsight; then `systemctl enable --now kernelsight.target` (docs/service.md)
UNITDIR ?= /etc/systemd/system
install-systemd:
	install -d $(DESTDIR)$(UNITDIR) $(DESTDIR)/etc/kernelsight $(DESTDIR)/usr/lib/sysusers.d
	for f in contrib/systemd/kernelsight*.service contrib/systemd/kernelsight*.socket \
		contrib/systemd/kernelsight*.timer contrib/systemd/kernelsight*.target; do \
		sed 's|/usr/local/bin/|$(BINDIR)/|g' $$f > $(DESTDIR)$(UNITDIR)/$${f##*/}; done
	for d in contrib/systemd/*.service.d; do install -d $(DESTDIR)$(UNITDIR)/$${d##*/}; \
		install -m 644 $$d/*.conf $(DESTDIR)$(UNITDIR)/$${d##*/}/; done
	install -m 644 contrib/systemd/kernelsight.sysusers $(DESTDIR)/usr/lib/sysusers.d/kernelsight.conf
	if [ -z "$(DESTDIR)" ]; then systemd-sysusers /usr/lib/sysusers.d/kernelsight.conf && \
		(systemctl daemon-reload 2>/dev/null || echo "systemd is not running: daemon-reload skipped"); fi

clean:
	rm -rf bpf/*.bpf.o bpf/vmlinux.h bpf/syscalls.tsv build dist *.egg-info $(STAMPS)
