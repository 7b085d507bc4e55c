# tests/lib/readme.sh: the README's marked blocks, for the tests that must
# run what the README tells an admin to write.  Source it after tests/lib.sh:
#
#   readme_block NAME [FILE]   prints the lines between "# mdir: NAME" and
#                              the next "# mdir: end" of FILE (default
#                              $MDIR_README, else the source's README),
#                              less the marker's indentation
#
# A block is a code block of the README, so it is indented like its
# marker; the markers are not printed.  readme_block fails (status 1, the
# reason on stderr) when the block is missing, not ended, given twice, has
# a line less indented than its marker (the code block ended before its
# end marker) or holds nothing but blank lines and comments: a test that
# uses it must then fail, never skip or run on something else.

readme_block() {
	awk -v name="$1" -v file="${2:-${MDIR_README:-$MDIR_SRC/README}}" '
	function fail(why) {
		printf "readme_block: %s: block \"%s\": %s\n", file, name, why >"/dev/stderr"
		bad = 1
		exit 1
	}
	function marker(line) {
		sub(/^[ \t]+/, "", line)
		sub(/[ \t]+$/, "", line)
		return line
	}
	# the start marker: remember its indentation
	!inside && marker($0) == "# mdir: " name {
		if (found)
			fail("given twice (lines " start " and " NR ")")
		found = 1
		inside = 1
		start = NR
		match($0, /^[ \t]*/)
		indent = RLENGTH
		next
	}
	inside && marker($0) == "# mdir: end" {
		inside = 0
		next
	}
	inside {
		if ($0 ~ /^[ \t]*$/) {
			print ""
			next
		}
		match($0, /^[ \t]*/)
		if (RLENGTH < indent)
			fail("line " NR " is less indented than the marker on line " start \
			    " (no \"# mdir: end\" before it?)")
		line = substr($0, indent + 1)
		print line
		if (line !~ /^#/)
			lines++
	}
	END {
		if (bad)
			exit 1
		if (!found)
			fail("no line \"# mdir: " name "\"")
		if (inside)
			fail("no \"# mdir: end\" after line " start)
		if (!lines)
			fail("empty (lines " start " on)")
	}' "${2:-${MDIR_README:-$MDIR_SRC/README}}"
}
