#!/bin/sh
# Builds the ib-worker package from a tree staged by `make install`:
#   ci/package.sh deb   -> $B/pkg/ib-worker_VERSION_amd64.deb (dpkg-deb)
#   ci/package.sh rpm   -> $B/pkg/ib-worker-VERSION-RELEASE.x86_64.rpm
# The Debian control data comes from ami/debian/ (Depends from the shared
# libraries the binaries link, by dpkg-shlibdeps); the RPM from
# ami/rpm/ib-worker.spec, given the staged tree. Env: B (build directory).
set -eu

kind=${1:-}
case $kind in
deb|rpm) ;;
*) echo "usage: ci/package.sh deb|rpm" >&2; exit 2 ;;
esac

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
B=${B:-build}
case $B in /*) babs=$B ;; *) babs="$top/$B" ;; esac
out="$babs/pkg"
mkdir -p "$out"

# Version: the base release plus the commit count and hash, so that every
# commit gives a distinct, increasing package version.
base=0.1.0
if count=$(git rev-list --count HEAD 2>/dev/null) &&
    hash=$(git rev-parse --short=8 HEAD 2>/dev/null); then
	rel="$count.g$hash"
else
	rel=0.local
fi

work=$(mktemp -d "$babs/pkg/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT
stage="$work/root"

# The staged tree, as the package will lay it out.
unitdir=/usr/lib/systemd/system
[ "$kind" = rpm ] || unitdir=/lib/systemd/system
make --no-print-directory install B="$B" DESTDIR="$stage" PREFIX=/usr \
    SYSCONFDIR=/etc UNITDIR="$unitdir" >"$work/install.log" 2>&1 || {
	cat "$work/install.log" >&2
	echo "package.sh: make install failed" >&2
	exit 1
}

case $kind in
deb)
	version="$base+$rel"
	src="$work/src"
	mkdir -p "$src/debian" "$stage/DEBIAN"
	cp ami/debian/control "$src/debian/control"
	cat >"$src/debian/changelog" <<-EOF
	ib-worker ($version) unstable; urgency=medium

	  * Built from commit ${hash:-unknown}.

	 -- Image Builder worker team <ib-worker@localhost>  $(date -R)
	EOF
	# Depends from the libraries the ELF programs need.
	set --
	for f in "$stage"/usr/bin/ib-*; do
		if file -b "$f" | grep -q ELF; then
			set -- "$@" "$f"
		fi
	done
	[ "$#" -gt 0 ] || { echo "package.sh: no ELF program staged" >&2; exit 1; }
	(cd "$src" && dpkg-shlibdeps -Tdebian/substvars "$@" &&
	    dpkg-gencontrol -pib-worker -P"$stage" -Tdebian/substvars \
	    -fdebian/files)
	for s in conffiles postinst prerm postrm; do
		install -m 0755 "ami/debian/$s" "$stage/DEBIAN/$s"
	done
	chmod 0644 "$stage/DEBIAN/conffiles"
	pkg="$out/ib-worker_${version}_amd64.deb"
	rm -f "$out"/ib-worker_*.deb
	dpkg-deb --root-owner-group -Zxz --build "$stage" "$pkg" >/dev/null
	;;
rpm)
	topdir="$work/rpmbuild"
	mkdir -p "$topdir/RPMS" "$topdir/BUILD" "$topdir/BUILDROOT"
	# --nodeps: the BuildRequires are Fedora's, checked by a real
	# Fedora build; here the programs are already built, and go in as
	# they are (no stripping, no debuginfo split), like the deb's.
	rpmbuild -bb --nodeps --quiet \
	    --define "_topdir $topdir" \
	    --define "ib_staged $stage" \
	    --define "ib_version $base" \
	    --define "ib_release $rel" \
	    --define "_build_id_links none" \
	    --define "debug_package %{nil}" \
	    --define "__os_install_post %{nil}" \
	    ami/rpm/ib-worker.spec >"$work/rpmbuild.log" 2>&1 || {
		cat "$work/rpmbuild.log" >&2
		echo "package.sh: rpmbuild failed" >&2
		exit 1
	}
	pkg=$(find "$topdir/RPMS" -name '*.rpm' | head -n 1)
	rm -f "$out"/ib-worker-*.rpm
	mv "$pkg" "$out/"
	pkg="$out/$(basename "$pkg")"
	;;
esac
echo "$pkg"
