# tests/stress/lib.sh: what the stress scenarios (tests/stress/*.t) share.
# Source it after tests/lib.sh and tests/lib/mdird.sh.
#
#   $STRESS             full (make stress) or short (make check, the default:
#                       on a tmpfs when it can, unless $ST_OWN_ROOT is set)
#   st_scale FULL SHORT echoes the number for the scale
#   st_setup            accounts jo and ann; jo's PDFs move to Docs
#   st_messages N [F]   N messages $T/msg/I.eml, Message-ID <I@stress.test>,
#                       subject and file names their own (thousands of
#                       entries of one name are issue 15.1's case, not
#                       this suite's), F random bytes appended
#   st_deliver PAR PCT LIST [N]  delivers "RECIPIENT FILE" lines of LIST,
#                       N files a sender, PAR senders at a time, each try
#                       killed with chance PCT% (deliver.sh); results in
#                       $T/results
#   st_mdird_killer MS  starts mdird again and again in the background,
#                       killing it -9 after a random 100..MS ms, until
#                       st_mdird_killer_stop; counts in $T/mdird-kills
#   st_check            exactly once and nothing partial (6 tests)
#   st_figures NAME     the figures line
#
# Every loop is bounded and every wait has a time-out.
STRESS=${STRESS:-short}
ST_TAG=stress.test
# st_tmpfs SIZE: the root on a tmpfs of its own (root only); FALSE if not
st_tmpfs() {
	[ "$(id -u)" = 0 ] && mkdir -p "$T/fs" &&
		mount -t tmpfs -o "size=$1" tmpfs "$T/fs" 2>"$T/mount.err" || return 1
	at_exit _st_umount
	MDIR_ROOT=$T/fs/root
	sed -i "s|^root = .*|root = $MDIR_ROOT|" "$MD_CONF"
}
_st_umount() {
	[ -n "$MD_PID" ] && kill -9 "$MD_PID" 2>/dev/null && wait "$MD_PID" 2>/dev/null
	umount -l "$T/fs"
}
# The short version (make check) runs on a tmpfs where it can: the syncs
# of a thousand deliveries on the shared disk would slow every other test
# of the machine.  The full one runs on the disk of $TMPDIR.
[ "$STRESS" = full ] || [ -n "${ST_OWN_ROOT:-}" ] || st_tmpfs 512m || true
ST_START=$(date +%s)
mkdir -p "$T/msg"
: >"$T/results"
printf '[mdir]\nlog_level = info\n[receive]\ndeadline = 60s\n' >>"$MD_CONF"
sed -i '/^log_level = debug$/d' "$MD_CONF"

st_scale() { [ "$STRESS" = full ] && echo "$1" || echo "$2"; }
rand() { od -An -N2 -tu2 /dev/urandom | tr -d ' '; }

st_setup() {
	mstore mkdir SMTP/Accounts/jo@example.org SMTP/Accounts/ann@example.org >/dev/null
	# as a real domain has them, so that fsck warns of nothing
	mstore account alias postmaster@example.org jo@example.org 2>/dev/null
	mstore account alias abuse@example.org jo@example.org
	printf 'if content-type = application/pdf then move Docs\n' \
		>"$MDIR_ROOT/SMTP/Accounts/jo@example.org/.rules"
}

# st_messages N [FILLER-BYTES]
st_messages() {
	awk -v n="$1" -v dir="$T/msg" -v tag="$ST_TAG" '
		{ line[++k] = $0 }
		END {
			for (i = 1; i <= n; i++) {
				f = dir "/" i ".eml"
				for (j = 1; j <= k; j++) {
					l = line[j]
					if (l ~ /^Message-ID: /)
						l = "Message-ID: <" i "@" tag ">"
					if (l ~ /^Subject: /)
						l = l " " i
					gsub(/report\.pdf/, "report-" i ".pdf", l)
					gsub(/chart\.png/, "chart-" i ".png", l)
					print l >f
				}
				close(f)
			}
		}' "$DATA/multipart-mixed.eml"
	if [ "${2:-0}" -gt 0 ]; then
		i=1
		while [ "$i" -le "$1" ]; do
			head -c "$2" /dev/urandom | base64 >>"$T/msg/$i.eml"
			i=$((i + 1))
		done
	fi
}

# st_list FROM TO: "jo FILE" for each message, and "ann FILE" for every
# tenth: two recipients, delivered apart as Postfix does with
# mdir_destination_recipient_limit = 1
st_list() {
	awk -v a="$1" -v b="$2" -v dir="$T/msg" 'BEGIN {
		for (i = a; i <= b; i++) {
			print "jo@example.org " dir "/" i ".eml"
			if (i % 10 == 0)
				print "ann@example.org " dir "/" i ".eml"
		}
	}'
}

# st_deliver PAR PCT LIST [N]: N files (10) a run of deliver.sh, PAR runs
# at once, for jo, then for ann
st_deliver() {
	_par=$1 _pct=$2
	for _r in jo@example.org ann@example.org; do
		grep "^$_r " "$3" | cut -d' ' -f2 |
			xargs -n "${4:-10}" -P "$_par" sh "$MDIR_SRC/tests/stress/deliver.sh" \
			"$MD_CONF" "$T/results" "$_pct" "$_r"
	done
}

_st_mdird_loop() {
	while [ ! -e "$T/stop-killer" ]; do
		mdird -F -c "$MD_CONF" >>"$MD_LOG" 2>&1 &
		_p=$!
		sleep "$(awk -v r="$(rand)" -v ms="$1" 'BEGIN { printf "%.3f", (100 + r % (ms - 100)) / 1000 }')"
		kill -9 "$_p" 2>/dev/null
		{ wait "$_p"; } 2>/dev/null
		[ $? = 137 ] && echo k >>"$T/mdird-kills"
	done
}
st_mdird_killer() {
	: >"$T/mdird-kills"
	rm -f "$T/stop-killer"
	_st_mdird_loop "$1" &
	ST_KILLER=$!
}
st_mdird_killer_stop() {
	touch "$T/stop-killer"
	wait "$ST_KILLER"
}

# The entries filed: "url<TAB>account" of every record in the folders
_st_filed() {
	find "$MDIR_ROOT/SMTP" "$MDIR_ROOT/Docs" -path '*/.meta/*' -type f -exec awk '
		FILENAME != f { if (f != "") print u "\t" a; f = FILENAME; u = a = "" }
		/^url: / { u = substr($0, 6) }
		/^account: / { a = substr($0, 10) }
		END { if (f != "") print u "\t" a }' {} + 2>/dev/null | sort
}

# What should be there: every part of every message delivered (code 0)
_st_expected() {
	awk -v parts="$1" -v tag="$ST_TAG" '$3 == 0 {
		id = $1; sub(/.*\//, "", id); sub(/\.eml$/, "", id)
		for (k = 0; k <= parts; k++)
			printf "mstore:%s@%s/%d\tSMTP/Accounts/%s\n", id, tag, k, $2
	}' "$T/results" | sort
}

# st_check CODES: CODES the exit codes allowed for a try (a regular
# expression); six tests
st_check() {
	ST_PARTS=$(mstore meta "mstore:1@$ST_TAG/0" | sed -n 's/^parts: //p')
	_st_expected "${ST_PARTS:-0}" >"$T/expected"
	_st_filed >"$T/filed"
	ST_PAIRS=$(wc -l <"$T/results")
	ST_TRIES=$(awk '{ n += $4 } END { print n + 0 }' "$T/results")
	ST_KILLS=$(awk '{ n += $5 } END { print n + 0 }' "$T/results")
	ST_DUPS=$(uniq -d "$T/filed" | wc -l)
	ST_MISSING=$(comm -23 "$T/expected" "$T/filed" | wc -l)
	ST_EXTRA=$(sort -u "$T/filed" | comm -13 "$T/expected" - | wc -l)
	_bad=$(awk -v ok="^($1)\$" '{
		if ($3 != 0) print "final " $3 ": " $1 " " $2
		n = split($6, c, ",")
		for (i = 1; i < n; i++) if (c[i] !~ ok) print "code " c[i] ": " $1 " " $2
	}' "$T/results" | head -n 5)
	is "$_bad" "" "every delivery ends with 0, every try exits with $1"
	is "$ST_DUPS" 0 "no part filed twice"
	is "$ST_MISSING $(wc -l <"$T/expected")" "0 $((ST_PAIRS * (ST_PARTS + 1)))" \
		"every part of every delivery filed ($ST_PAIRS deliveries, $((ST_PARTS + 1)) entries each)"
	is "$ST_EXTRA" 0 "nothing filed that was not delivered"
	is "$(find "$MDIR_ROOT/.mdird/queue" "$MDIR_ROOT/.mdird/work" "$MDIR_ROOT/.mdird/failed" \
		-maxdepth 1 -type f ! -name '.*' 2>/dev/null | head -n 3)" "" \
		"no batch left queued, in work or set aside"
	_fsck=$(mstore fsck 2>&1)
	is "$?:$_fsck" "0:" "mstore fsck finds nothing"
}

# st_figures NAME [MORE]: one line, shown by make stress
st_figures() {
	echo "# figures: $1: deliveries $ST_PAIRS, tries $ST_TRIES, kills $ST_KILLS," \
		"retries $((ST_TRIES - ST_PAIRS)),${2:+ $2,} $(($(date +%s) - ST_START)) s," \
		"duplicates found $ST_DUPS, missing $ST_MISSING"
}
