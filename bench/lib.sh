# bench/lib.sh: what the benchmarks share.  Source it after setting $top.

# bench_need PACKAGE...: installs the Debian packages that are missing
# (as root), or stops saying which are.
bench_need() {
	_need=""
	for _p in "$@"; do
		dpkg-query -W -f='${Status}' "$_p" 2>/dev/null | grep -q 'ok installed' ||
			_need="$_need $_p"
	done
	[ -z "$_need" ] && return 0
	[ "$(id -u)" = 0 ] || { echo "bench: needs root to install:$_need" >&2; exit 1; }
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $_need >/dev/null
}
