#!/bin/sh
# The arm64 sysroot `make ARCH=arm64` cross-builds against: Debian 12's
# arm64 -dev packages of every library the programs and the unit tests
# link, and the shared libraries they pull in, unpacked (dpkg-deb -x) into
# DIR, its /lib merged into /usr/lib as Debian's usrmerge has it. The
# :arm64 packages cannot be installed on the host beside the amd64 ones
# (libsolv-dev and libguestfs-dev are not Multi-Arch: same), so they are
# only unpacked, never configured; qemu-user runs the unit tests against
# the same tree (-L DIR).
# Needs the arm64 apt lists (ci/deps.sh arm64 adds the architecture).
# Idempotent: the .debs are kept in DIR.debs, DIR is made again only when
# the list of packages changed.
# DIR.dpkg is a dpkg administrative directory describing DIR to the host's
# dpkg tools: every unpacked package as installed, its files under DIR's
# path (as the usrmerged tree has them), its shlibs and symbols files
# (dpkg-deb -e). `dpkg-shlibdeps --admindir=DIR.dpkg -lDIR/usr/lib/...`
# then derives an arm64 package's Depends from the real arm64 libraries
# (make deb ARCH=arm64).
# Usage: ci/arm64-sysroot.sh DIR
set -eu

dir=${1:?usage: arm64-sysroot.sh DIR}
arch=arm64
dev="libc6-dev libcurl4-openssl-dev libjson-c-dev libssl-dev libxml2-dev
libsystemd-dev libguestfs-dev libsolv-dev libsolvext-dev zlib1g-dev
libcmocka-dev libkrb5-dev"

mkdir -p "$dir.debs"
debs=$(cd "$dir.debs" && pwd)

# The closure against an empty status file, as apt resolves it for arm64;
# of it only the libraries and headers (the programs, qemu and the
# appliance libguestfs0 depends on are not linked).
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
# shellcheck disable=SC2086  # $dev is a list of package names
LC_ALL=C apt-get -s -o Dir::State::status="$empty" \
    -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
    -o APT::Install-Recommends=false install $dev |
    sed -n 's/^Inst \([^ :]*\)[^ ]* (\([^ ]*\) .*/\1=\2/p' |
    grep -E '^(lib[^=]*|[^=]*-dev|krb5-multidev|zlib1g|gcc-12-base)=' |
    sort >"$empty.list"
if [ ! -s "$empty.list" ]; then
	echo "arm64-sysroot: apt resolved nothing for $arch (dpkg" \
	    "--add-architecture $arch; apt-get update)" >&2
	rm -f "$empty.list"
	exit 1
fi
if [ -f "$dir/.packages" ] && [ -f "$dir.dpkg/status" ] &&
    cmp -s "$empty.list" "$dir/.packages"; then
	rm -f "$empty.list"
	exit 0
fi

missing=""
while read -r pv; do
	name=${pv%%=*}
	ver=${pv#*=}
	ver=${ver#*:}
	[ -e "$debs/${name}_${ver}_$arch.deb" ] ||
	    [ -e "$debs/${name}_${ver}_all.deb" ] || missing="$missing $pv"
done <"$empty.list"
if [ -n "$missing" ]; then
	echo "arm64-sysroot: downloading $(echo "$missing" | wc -w) packages"
	# shellcheck disable=SC2086  # a list of name=version
	(cd "$debs" && apt-get download -q -o APT::Architecture="$arch" \
	    -o APT::Architectures="$arch" -o APT::Sandbox::User=root \
	    $missing >/dev/null)
	for f in "$debs/"*%3a*; do
		[ -e "$f" ] || continue
		mv "$f" "$debs/$(basename "$f" | sed 's/_[0-9]*%3a/_/')"
	done
fi

rm -rf "$dir" "$dir.dpkg"
mkdir -p "$dir" "$dir.dpkg/info" "$dir.dpkg/updates"
root=$(cd "$dir" && pwd)
admin="$root.dpkg"
: >"$admin/status"
: >"$admin/available"
echo 1 >"$admin/info/format"  # NAME:ARCH info files
printf 'amd64\n%s\n' "$arch" >"$admin/arch"
ctl="$admin/.control"
while read -r pv; do
	name=${pv%%=*}
	ver=${pv#*=}
	ver=${ver#*:}
	for f in "$debs/${name}_${ver}_$arch.deb" "$debs/${name}_${ver}_all.deb"
	do
		[ -e "$f" ] || continue
		dpkg-deb -x "$f" "$dir"
		rm -rf "$ctl"
		dpkg-deb -e "$f" "$ctl"
		# The package as installed; info files are NAME:ARCH for
		# Multi-Arch: same, NAME otherwise (as dpkg names them).
		info=$name
		if grep -qx 'Multi-Arch: same' "$ctl/control"; then
			info="$name:$(dpkg-deb -f "$f" Architecture)"
		fi
		{
			sed '/^Package:/a Status: install ok installed' \
			    "$ctl/control"
			echo
		} >>"$admin/status"
		dpkg-deb --fsys-tarfile "$f" | tar -t |
		    sed -e 's|^\./|/|' -e 's|/$||' -e '/^$/d' \
			-e 's|^/lib\(64\)*/|/usr/lib\1/|' -e 's|^/lib\(64\)*$|/usr/lib\1|' \
			-e "s|^|$root|" >"$admin/info/$info.list"
		for part in shlibs symbols; do
			[ ! -f "$ctl/$part" ] ||
			    cp "$ctl/$part" "$admin/info/$info.$part"
		done
	done
done <"$empty.list"
rm -rf "$ctl"
# usrmerge: /lib and /lib64 are /usr's.
for d in lib lib64; do
	if [ -d "$dir/$d" ] && [ ! -L "$dir/$d" ]; then
		mkdir -p "$dir/usr/$d"
		cp -a "$dir/$d/." "$dir/usr/$d/"
		rm -rf "${dir:?}/$d"
	fi
	ln -s "usr/$d" "$dir/$d"
done
# Absolute links (libz.so -> /lib/...) would reach the host's amd64 files:
# made relative, inside the tree.
find "$dir" -type l | while read -r l; do
	t=$(readlink "$l")
	case $t in
	/*) ln -sfn "$(realpath -m --relative-to="$(dirname "$l")" "$dir$t")" \
	    "$l" ;;
	esac
done
mv "$empty.list" "$dir/.packages"
echo "arm64-sysroot: $(wc -l <"$dir/.packages") packages in $dir"
