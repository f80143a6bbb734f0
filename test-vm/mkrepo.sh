#!/bin/sh
# The Debian repository the VM tests' composes install from, served to the
# guests by the harness (they reach no mirror of their own): the closure of
# the local queue's "minimal" debian-12 base set (queue/ibq_compose.py, so
# the two never disagree), as apt resolves it against an empty system,
# downloaded once through this machine's apt and kept in DIR/pool, with a
# Packages index and a Release for suite bookworm, clear-signed as InRelease
# with a throwaway key made here (DIR/gnupg; its public half in DIR/key.asc,
# which the compose hands to ib-depsolve as the repository's gpgkeys).
# Usage: test-vm/mkrepo.sh DIR     (prints the package count at the end)
# Env: IB_MKREPO_ARM64=1 adds binary-arm64 (the aarch64 image's closure).
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: mkrepo.sh DIR}
mkdir -p "$dir/pool"
dir=$(cd "$dir" && pwd)

# One closure per architecture: amd64 always; arm64 when IB_MKREPO_ARM64=1
# (the aarch64 boot case), with the cloud kernel of that architecture.
# GRUB's EFI modules go in too (the uefi, hybrid and aarch64 cases build
# images that boot with them; a compose that does not ask for them gets
# none: only what depsolve picks is installed).
arches=amd64
[ "${IB_MKREPO_ARM64:-0}" != 1 ] || arches="amd64 arm64"
base=$(cd "$top/queue" && /usr/bin/python3 -c '
import ibq_compose as c
d = c.DISTROS["debian-12"]
print(" ".join(d["required"] + d["bases"]["minimal"]))')

empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
for arch in $arches; do
	# shellcheck disable=SC2086  # $base is a list of package names
	want=$(printf '%s\n' $base | sed "s/-amd64\$/-$arch/" | tr '\n' ' ')
	want="$want grub-efi-$arch-bin"
	# The closure against an empty status file: every package an empty
	# root needs, at the versions this machine's apt lists offer (for a
	# foreign architecture: dpkg --add-architecture arm64, apt-get update).
	# shellcheck disable=SC2086  # $want is a list of package names
	LC_ALL=C apt-get -s -o Dir::State::status="$empty" \
	    -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
	    -o APT::Install-Recommends=false install $want |
	    sed -n 's/^Inst \([^ :]*\)[^ ]* (\([^ ]*\) .*/\1=\2/p' \
	    >"$dir/closure-$arch"
	[ -s "$dir/closure-$arch" ] || {
		echo "mkrepo: apt resolved nothing for $arch" >&2
		exit 1
	}

	# Download what is not in the pool yet (a second run fetches nothing).
	missing=""
	while read -r pv; do
		name=${pv%%=*}
		ver=${pv#*=}
		# Pool file names carry no epoch, as in the Debian archive.
		fver=${ver#*:}
		[ -e "$dir/pool/${name}_${fver}_$arch.deb" ] ||
		    [ -e "$dir/pool/${name}_${fver}_all.deb" ] ||
			missing="$missing $pv"
	done <"$dir/closure-$arch"
	if [ -n "$missing" ]; then
		# shellcheck disable=SC2086  # a list of name=version
		(cd "$dir/pool" && apt-get download -q \
		    -o APT::Architecture="$arch" -o APT::Architectures="$arch" \
		    -o APT::Sandbox::User=root $missing >/dev/null) || {
			echo "mkrepo: apt-get download failed" >&2
			exit 1
		}
		# apt-get download keeps the epoch, as %3a.
		for f in "$dir/pool/"*%3a*; do
			[ -e "$f" ] || continue
			mv "$f" "$dir/pool/$(basename "$f" | sed 's/_[0-9]*%3a/_/')"
		done
	fi
done
cp "$dir/closure-amd64" "$dir/closure"

# Only the closures go into the indexes, even if the pool holds more.
rm -rf "$dir/dists" "$dir/.index"
for arch in $arches; do
	list="$dir/dists/bookworm/main/binary-$arch"
	mkdir -p "$list" "$dir/.index"
	while read -r pv; do
		name=${pv%%=*}
		fver=${pv#*=}
		fver=${fver#*:}
		for f in "$dir/pool/${name}_${fver}_$arch.deb" \
		    "$dir/pool/${name}_${fver}_all.deb"; do
			[ ! -e "$f" ] || ln -sf "../pool/$(basename "$f")" \
			    "$dir/.index/"
		done
	done <"$dir/closure-$arch"
	(cd "$dir" && apt-ftparchive packages .index 2>/dev/null |
	    sed 's|^Filename: \.index/|Filename: pool/|') >"$list/Packages"
	xz -k -f "$list/Packages"
	rm -rf "$dir/.index"
done
(cd "$dir/dists/bookworm" && apt-ftparchive \
    -o APT::FTPArchive::Release::Suite=bookworm \
    -o APT::FTPArchive::Release::Codename=bookworm \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Architectures="$arches" \
    release . >../Release.new && mv ../Release.new Release)

# The signing key, made once; gpg-agent stopped again at the end.
g() {
	gpg --homedir "$dir/gnupg" --batch --quiet --pinentry-mode loopback \
	    --passphrase '' "$@"
}
uid="ib-vmtest repository <ib-vmtest@ib.invalid>"
if [ ! -s "$dir/key.asc" ]; then
	rm -rf "$dir/gnupg"
	mkdir -m 0700 "$dir/gnupg"
	g --quick-gen-key "$uid" ed25519 sign never
	g --armor --export "$uid" >"$dir/key.asc.new"
	mv "$dir/key.asc.new" "$dir/key.asc"
fi
rm -f "$dir/dists/bookworm/InRelease"
g --local-user "$uid" --clearsign \
    --output "$dir/dists/bookworm/InRelease" "$dir/dists/bookworm/Release"
gpgconf --homedir "$dir/gnupg" --kill all 2>/dev/null || true
echo "mkrepo: $(cat "$dir"/closure-* | wc -l) packages ($arches)," \
    "$(du -sm "$dir/pool" | cut -f1) MiB in $dir"
