#!/bin/sh
# mstore config [-n]: the configuration in effect, or what the file sets
# (like postconf -n); a bad value exits 78 with FILE:LINE, and nothing is
# made on the way (no root).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 9

C=$T/c.conf
printf '[receive]\nlocal_domains = пример.рф; example.org\n[mdir]\nroot = %s/r\n' "$T" >"$C"
expect_code 0 "mstore config -n" -- env -u MDIR_ROOT mstore -c "$C" config -n
is "$out" "# $C
[mdir]
root = $T/r

[receive]
local_domains = пример.рф; example.org" "-n: only what the file sets, in the page's order"
expect_code 0 "mstore config, -c after the command" -- env -u MDIR_ROOT mstore config -c "$C"
like "$(echo "$out" | tr '\n' ' ')" "\[mdir\] root = $T/r socket = $T/r/\.mdird/mdird\.sock .*recipient_delimiter = \+ .*policy_listen = inet:127\.0\.0\.1:10040 " \
	"without -n: every key, defaults included"
ok "$([ ! -e "$T/r" ]; echo $?)" "no root made by looking at the configuration"
printf '[receive]\nmax_size = 12x\n' >>"$C"
expect_code 78 "a bad value: EX_CONFIG" -- env -u MDIR_ROOT mstore -c "$C" config
like "$err" "$C:6: max_size: '12x' is not a size" "with the file and the line"
printf '[receive]\nmax_sise = 1M\n' >"$C"
expect_code 0 "an unknown key is a warning" -- env -u MDIR_ROOT mstore -c "$C" config -n
like "$err" "c.conf:2: unknown key .max_sise. in \[receive\]" "and it is named"
