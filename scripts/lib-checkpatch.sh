# shellcheck shell=bash
# Sourced by scripts/checkpatch and scripts/check-patches: makes sure the
# kernel's checkpatch.pl (from Debian's linux-source-6.1) is available and
# sets $checkpatch to its path.  The three files it needs are extracted
# once into a cache directory; the package is installed if missing.

tarball=/usr/src/linux-source-6.1.tar.xz
cache="${XDG_CACHE_HOME:-$HOME/.cache}/mmfuzz/checkpatch"
checkpatch="$cache/checkpatch.pl"

ensure_checkpatch() {
	local needed=(checkpatch.pl spelling.txt const_structs.checkpatch)
	local f tmp members=()

	local missing=0

	for f in "${needed[@]}"; do
		[ -s "$cache/$f" ] || missing=1
	done
	[ "$missing" -eq 0 ] && return 0

	if [ ! -f "$tarball" ]; then
		echo "checkpatch: installing linux-source-6.1" >&2
		as_root env DEBIAN_FRONTEND=noninteractive apt-get update -qq
		as_root env DEBIAN_FRONTEND=noninteractive \
			apt-get install -y -qq --no-install-recommends \
			linux-source-6.1 >/dev/null
	fi
	echo "checkpatch: extracting checkpatch.pl from $tarball" >&2
	mkdir -p "$cache"
	tmp=$(mktemp -d "$cache.XXXXXX")
	for f in "${needed[@]}"; do
		members+=("linux-source-6.1/scripts/$f")
	done
	tar -xJf "$tarball" -C "$tmp" --strip-components=2 --occurrence=1 \
		"${members[@]}"
	for f in "${needed[@]}"; do
		mv -f "$tmp/$f" "$cache/$f"
	done
	rm -rf "$tmp"
}

as_root() {
	if [ "$(id -u)" -eq 0 ]; then
		"$@"
	else
		sudo "$@"
	fi
}
