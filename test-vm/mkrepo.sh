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
set -eu

top=$(cd "$(dirname "$0")/.." && pwd)
dir=${1:?usage: mkrepo.sh DIR}
mkdir -p "$dir/pool"
dir=$(cd "$dir" && pwd)

want=$(cd "$top/queue" && /usr/bin/python3 -c '
import ibq_compose as c
d = c.DISTROS["debian-12"]
print(" ".join(d["required"] + d["bases"]["minimal"]))')

# The closure against an empty status file: every package an empty root
# needs, at the versions this machine's apt lists offer.
empty=$(mktemp)
trap 'rm -f "$empty"' EXIT
# shellcheck disable=SC2086  # $want is a list of package names
LC_ALL=C apt-get -s -o Dir::State::status="$empty" \
    -o APT::Install-Recommends=false install $want |
    sed -n 's/^Inst \([^ ]*\) (\([^ ]*\) .*/\1=\2/p' >"$dir/closure"
[ -s "$dir/closure" ] || { echo "mkrepo: apt resolved nothing" >&2; exit 1; }

# Download what is not in the pool yet (a second run fetches nothing).
missing=""
while read -r pv; do
	name=${pv%%=*}
	ver=${pv#*=}
	# Pool file names carry no epoch, as in the Debian archive.
	fver=${ver#*:}
	ls "$dir/pool/${name}_${fver}_"*.deb >/dev/null 2>&1 ||
		missing="$missing $pv"
done <"$dir/closure"
if [ -n "$missing" ]; then
	# shellcheck disable=SC2086  # a list of name=version
	(cd "$dir/pool" && apt-get download -q -o APT::Sandbox::User=root $missing >/dev/null) || {
		echo "mkrepo: apt-get download failed" >&2
		exit 1
	}
	# apt-get download keeps the epoch, as %3a.
	for f in "$dir/pool/"*%3a*; do
		[ -e "$f" ] || continue
		mv "$f" "$dir/pool/$(basename "$f" | sed 's/_[0-9]*%3a/_/')"
	done
fi

# Only the closure goes into the index, even if the pool holds more.
list="$dir/dists/bookworm/main/binary-amd64"
rm -rf "$dir/dists" "$dir/.index"
mkdir -p "$list" "$dir/.index"
while read -r pv; do
	name=${pv%%=*}
	fver=${pv#*=}
	fver=${fver#*:}
	ln -s "../pool/$(basename "$(ls "$dir/pool/${name}_${fver}_"*.deb)")" \
	    "$dir/.index/"
done <"$dir/closure"
(cd "$dir" && apt-ftparchive packages .index 2>/dev/null |
    sed 's|^Filename: \.index/|Filename: pool/|') >"$list/Packages"
xz -k -f "$list/Packages"
(cd "$dir/dists/bookworm" && apt-ftparchive \
    -o APT::FTPArchive::Release::Suite=bookworm \
    -o APT::FTPArchive::Release::Codename=bookworm \
    -o APT::FTPArchive::Release::Components=main \
    -o APT::FTPArchive::Release::Architectures=amd64 \
    release . >../Release.new && mv ../Release.new Release)
rm -rf "$dir/.index"

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
echo "mkrepo: $(wc -l <"$dir/closure") packages," \
    "$(du -sm "$dir/pool" | cut -f1) MiB in $dir"
