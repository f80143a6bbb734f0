#!/bin/sh
# Installs the built programs, their manual pages, the systemd units, the
# first-boot script and a default configuration under DESTDIR (used by `make install` and by the
# packages). Env: B (build dir), DESTDIR, PREFIX, SYSCONFDIR, UNITDIR.
# The units name /usr/bin and /usr/libexec; another PREFIX is written into
# them. An existing configuration file is never overwritten.
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
B=${B:-build}
case $B in /*) ;; *) B="$top/$B" ;; esac
DESTDIR=${DESTDIR:-}
PREFIX=${PREFIX:-/usr/local}
SYSCONFDIR=${SYSCONFDIR:-/etc}
UNITDIR=${UNITDIR:-$PREFIX/lib/systemd/system}

bindir="$PREFIX/bin"
libexecdir="$PREFIX/libexec/ib-worker"
confdir="$SYSCONFDIR/osbuild-worker"
docdir="$PREFIX/share/doc/ib-worker"
mandir="$PREFIX/share/man"
modloaddir=$PREFIX/lib/modules-load.d
[ "$PREFIX" != /usr/local ] || modloaddir=/etc/modules-load.d

if [ ! -x "$B/ib-worker" ]; then
	echo "install.sh: $B/ib-worker is missing: run make first" >&2
	exit 1
fi

install -d -m 0755 "$DESTDIR$bindir" "$DESTDIR$libexecdir" \
    "$DESTDIR$UNITDIR" "$DESTDIR$docdir" "$DESTDIR$modloaddir"
install -d -m 0700 "$DESTDIR$confdir"

for prog in "$B"/ib-*; do
	if [ ! -f "$prog" ] || [ ! -x "$prog" ]; then
		continue
	fi
	install -m 0755 "$prog" "$DESTDIR$bindir/$(basename "$prog")"
done

# The manual pages, by section (the packagers compress them).
for page in "$top"/man/*.[158]; do
	sect=${page##*.}
	install -d -m 0755 "$DESTDIR$mandir/man$sect"
	install -m 0644 "$page" "$DESTDIR$mandir/man$sect/"
done

install -m 0755 "$top/ami/firstboot/ib-worker-firstboot" "$DESTDIR$libexecdir/"
sed -e "s|/usr/bin/|$bindir/|g" \
    -e "s|/usr/libexec/ib-worker/|$libexecdir/|g" \
    "$top/ami/libexec/ib-vmcheck-gate" >"$DESTDIR$libexecdir/ib-vmcheck-gate"
chmod 0755 "$DESTDIR$libexecdir/ib-vmcheck-gate"

for unit in "$top"/ami/systemd/*.service "$top"/ami/systemd/*.timer; do
	sed -e "s|/usr/bin/|$bindir/|g" \
	    -e "s|/usr/libexec/ib-worker/|$libexecdir/|g" \
	    -e "s|/usr/share/doc/ib-worker/|$docdir/|g" \
	    "$unit" >"$DESTDIR$UNITDIR/$(basename "$unit")"
	chmod 0644 "$DESTDIR$UNITDIR/$(basename "$unit")"
done
install -m 0644 "$top/ami/modules-load.d/ib-worker.conf" "$DESTDIR$modloaddir/"
install -m 0644 "$top/ami/README" "$DESTDIR$docdir/README"

conf="$DESTDIR$confdir/osbuild-worker.toml"
if [ -e "$conf" ]; then
	echo "install.sh: keeping the existing $conf"
else
	install -m 0600 "$top/ami/config/osbuild-worker.toml" "$conf"
fi
