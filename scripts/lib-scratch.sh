# Sourced by scripts/mutants and scripts/libfuzzer: the scratch tree a
# mutant is applied to.  The caller sets repo (the working copy), snap (its
# snapshot) and src (the scratch copy).

# Take one snapshot of the working copy, so that every mutant (and the
# baseline) is built from the same sources even if the tree is being edited
# meanwhile.
snapshot() {
	mkdir -p "$snap"
	rsync -a --checksum --delete \
		--exclude='/.git' --exclude='/.build*' --exclude='/.swiftpm' \
		--exclude='/mmfuzz-out' \
		"$repo/" "$snap/"
}

# Make $src an exact copy of the snapshot.  Only files whose contents
# differ are rewritten, and those are touched, so that the build system sees
# every change (also a patched file going back to the original) and
# nothing else is rebuilt.
sync_tree() {
	local changed
	mkdir -p "$src"
	changed=$(rsync -a --checksum --delete --itemize-changes \
		"$snap/" "$src/") || return 1
	printf '%s\n' "$changed" | while read -r flags path; do
		case $flags in
		'>f'*) touch "$src/$path" ;;
		esac
	done
}
