#!/bin/sh
# Builds the ib-worker package from a copy of the tracked tree:
#   ci/package.sh deb   -> $B/pkg/ib-worker_VERSION_ARCH.deb
#                          (debhelper: ami/debian/ is the debian/ folder)
#   ci/package.sh rpm   -> $B/pkg/ib-worker-VERSION-RELEASE.x86_64.rpm
#                          (rpmbuild from a source tarball, ami/rpm/ib-worker.spec)
# Each compiles the programs itself with its distribution's flags (Debian's
# hardening=+all; the spec's %optflags), strips them and splits their
# debugging symbols into $B/pkg/debug/ (the -dbgsym .deb, the -debuginfo
# .rpm). The build must find its build dependencies installed (make deb /
# make rpm install them); it never calls apt or the network.
# Env: B (build directory, for the output only); ARCH (deb only): the
# host's architecture (default) or arm64 (aarch64), cross-built with
# Debian's cross toolchain against the unpacked sysroot SYSROOT (default
# build-arm64/sysroot, made by ci/arm64-sysroot.sh; `make deb ARCH=arm64`
# makes it): dpkg-shlibdeps reads the arm64 libraries' shlibs and symbols
# from its records, SYSROOT.dpkg.
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
mkdir -p "$out/debug"

# Version: the base release plus the commit count and hash, so that every
# commit gives a distinct, increasing package version.
base=0.1.0
hash=""
if count=$(git rev-list --count HEAD 2>/dev/null) &&
    hash=$(git rev-parse --short=8 HEAD 2>/dev/null); then
	rel="$count.g$hash"
else
	rel=0.local
fi
# The maintainer, in one place: debian/control's (t_packages checks that
# debian/copyright and the spec's entries say the same).
maint=$(sed -n 's/^Maintainer: *//p' ami/debian/control)
[ -n "$maint" ] || { echo "package.sh: no Maintainer in ami/debian/control" >&2; exit 1; }

work=$(mktemp -d "$out/.work.XXXXXX")
trap 'rm -rf "$work"' EXIT

# copy_tree DIR: the tracked files as they are in the work tree (a tree that
# is not a git checkout, e.g. an unpacked release, is copied but its build
# folders).
copy_tree() {
	mkdir -p "$1"
	if git rev-parse --is-inside-work-tree >/dev/null 2>&1; then
		git ls-files -z | tar --null -T - -cf - | tar -xf - -C "$1"
	else
		tar --exclude='./build' --exclude='./build-*' -cf - . |
		    tar -xf - -C "$1"
	fi
}

host_arch=$(dpkg --print-architecture 2>/dev/null || echo amd64)
case ${ARCH:-$host_arch} in
x86_64) arch=amd64 ;;
aarch64) arch=arm64 ;;
*) arch=${ARCH:-$host_arch} ;;
esac
if [ "$arch" != "$host_arch" ]; then
	if [ "$kind" != deb ] || [ "$arch" != arm64 ]; then
		echo "package.sh: ARCH=$arch: only the deb is cross-built, for arm64" >&2
		exit 2
	fi
	sysroot=${SYSROOT:-$top/build-arm64/sysroot}
	case $sysroot in /*) ;; *) sysroot="$top/$sysroot" ;; esac
	if [ ! -f "$sysroot/.packages" ] || [ ! -f "$sysroot.dpkg/status" ]; then
		echo "package.sh: no arm64 sysroot with its records in $sysroot" \
		    "(make deb ARCH=arm64 makes it: ci/arm64-sysroot.sh)" >&2
		exit 1
	fi
fi

case $kind in
deb)
	version="$base+$rel"
	src="$work/ib-worker-$version"
	copy_tree "$src"
	rm -rf "$src/debian"
	cp -a "$src/ami/debian" "$src/debian"
	cat >"$src/debian/changelog" <<-EOF
	ib-worker ($version) unstable; urgency=medium

	  * Built from commit ${hash:-unknown}.

	 -- $maint  $(date -R)
	EOF
	jobs=$(nproc 2>/dev/null || echo 1)
	# Cross: -a sets the host architecture for debhelper (cross compiler,
	# strip, objcopy); -d because the arm64 Build-Depends are unpacked in
	# the sysroot, not installed (dpkg cannot check them).
	set -- -b --no-sign
	[ "$arch" = "$host_arch" ] || set -- "$@" -a "$arch" -d
	(cd "$src" && DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=$jobs}" \
	    IB_SYSROOT="${sysroot:-}" dpkg-buildpackage "$@") \
	    >"$work/build.log" 2>&1 || {
		tail -n 60 "$work/build.log" >&2
		echo "package.sh: dpkg-buildpackage failed" >&2
		exit 1
	}
	pkg="$out/ib-worker_${version}_$arch.deb"
	[ -f "$work/$(basename "$pkg")" ] || {
		echo "package.sh: dpkg-buildpackage made no $(basename "$pkg")" >&2
		exit 1
	}
	rm -f "$out"/ib-worker_*_"$arch".deb \
	    "$out"/debug/ib-worker-dbgsym_*_"$arch".deb
	mv "$work/$(basename "$pkg")" "$pkg"
	for f in "$work"/ib-worker-dbgsym_*_"$arch".deb; do
		[ ! -f "$f" ] || mv "$f" "$out/debug/"
	done
	;;
rpm)
	topdir="$work/rpmbuild"
	mkdir -p "$topdir/SOURCES" "$topdir/RPMS" "$topdir/BUILD"
	copy_tree "$work/ib-worker-$base"
	tar -C "$work" -czf "$topdir/SOURCES/ib-worker-$base.tar.gz" \
	    "ib-worker-$base"
	# The spec with a first changelog entry for this build, as the deb's.
	awk -v head="* $(LC_ALL=C date '+%a %b %d %Y') $maint - $base-$rel" \
	    -v line="- Built from commit ${hash:-unknown}." '
	    { print }
	    /^%changelog$/ { print head; print line; print "" }' \
	    ami/rpm/ib-worker.spec >"$work/ib-worker.spec"
	# What a Fedora build root adds to rpm (redhat-rpm-config) and Debian's
	# rpm lacks: the -debuginfo split (find-debuginfo strips the programs),
	# and brp-compress run by bash (it uses `read -d`; Debian's /bin/sh is
	# dash, so the man pages stayed uncompressed); the folder of
	# modules-load.d files (systemd-rpm-macros); the packager a build
	# system sets.
	{
		if [ -z "$(rpm --eval '%{?_enable_debug_packages}')" ]; then
			cat <<-'MACROS'
			%_enable_debug_packages 1
			%install %{?buildsubdir:%{debug_package}}\
			%%install\
			%{nil}
			%__brp_compress /bin/bash /usr/lib/rpm/brp-compress %{_prefix}
			MACROS
		fi
		# systemd-rpm-macros' folder (Fedora: a BuildRequires).
		[ -n "$(rpm --eval '%{?_modulesloaddir}')" ] ||
			echo '%_modulesloaddir %{_prefix}/lib/modules-load.d'
		printf '%%packager %s\n' "$maint"
	} >"$work/macros"
	# --nodeps: the BuildRequires are Fedora's names; on Debian the same
	# libraries come from `make rpm` (ci/deps.sh rpm).
	rpmbuild -bb --nodeps --load "$work/macros" \
	    --define "_topdir $topdir" \
	    --define "ib_version $base" \
	    --define "ib_release $rel" \
	    "$work/ib-worker.spec" >"$work/build.log" 2>&1 || {
		tail -n 60 "$work/build.log" >&2
		echo "package.sh: rpmbuild failed" >&2
		exit 1
	}
	pkg=$(find "$topdir/RPMS" -name "ib-worker-$base-*.rpm" | head -n 1)
	[ -n "$pkg" ] || { echo "package.sh: rpmbuild made no package" >&2; exit 1; }
	rm -f "$out"/ib-worker-*.rpm "$out"/debug/ib-worker-*.rpm
	mv "$pkg" "$out/"
	pkg="$out/$(basename "$pkg")"
	find "$topdir/RPMS" -name 'ib-worker-debug*.rpm' -exec mv {} "$out/debug/" \;
	;;
esac
echo "$pkg"
