#!/bin/sh
# mdir-web's command line and server (issue 13): --passwd from standard
# input (twice, the same; 0600, yescrypt, replaced whole), bad names and
# differing passwords refused with 64; [web] listen on loopback, a
# non-loopback address or a Unix socket refused with 78 (the first allowed
# by allow_remote), an address in use 69; pages need a login, the API
# says 401; SIGTERM ends it with 0.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
command -v socat >/dev/null || skip_all "socat is not installed (make deps)"
plan 20

C=$T/c.conf
U=$MDIR_ROOT/.web/users
free_ports 1
printf '[mdir]\nroot = %s\n[web]\nlisten = inet:127.0.0.1:%s\n' "$MDIR_ROOT" "$PORT" >"$C"
mstore -c "$C" init >/dev/null

expect_code 0 "--passwd NAME: the password twice on standard input" -- \
	sh -c "printf 'one two\none two\n' | mdir-web -c '$C' --passwd admin"
is "$out$err" "" "quiet when it worked"
is "$(stat -c %a "$U")" "600" "the users file is 0600"
like "$(cat "$U")" '^admin:\$y\$[^:]+$' "a yescrypt hash, not the password"
h1=$(cat "$U")
expect_code 0 "a second admin" -- sh -c "printf 'x\nx\n' | mdir-web -c '$C' --passwd second"
expect_code 64 "two passwords that differ" -- sh -c "printf 'x\ny\n' | mdir-web -c '$C' --passwd admin"
like "$err" "the two passwords differ" "says so"
expect_code 64 "a name that is not one" -- sh -c "printf 'x\nx\n' | mdir-web -c '$C' --passwd 'a:b'"
is "$(grep -c . "$U")" 2 "the file: the two admins, nothing else"
is "$(grep '^admin:' "$U")" "$h1" "admin's hash unchanged by the refusals"

mdir-web -c "$C" 2>"$T/web.log" &
pid=$!
wait_for 10 sh -c "ss -Htln '( sport = :$PORT )' | grep -q ."
ok $? "listens on [web] listen"
get() { printf 'GET %s HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n' "$1" |
	timeout 10 socat -t 5 - TCP:127.0.0.1:$PORT | head -n 1 | tr -d '\r'; }
is "$(get /login)" "HTTP/1.1 200 OK" "the login page needs no login"
is "$(get /accounts)" "HTTP/1.1 303 See Other" "a page without one goes to /login"
is "$(get /api/today)" "HTTP/1.1 401 Unauthorized" "the API says 401"
kill -TERM $pid
wait $pid
is $? 0 "SIGTERM: exit 0"

sed -i "s/^listen = .*/listen = inet:192.0.2.1:8025/" "$C"
expect_code 78 "a non-loopback address: refused" -- mdir-web -c "$C"
like "$err" "not a loopback address.*allow_remote" "saying why, and what allows it"
sed -i "s|^listen = .*|listen = unix:$T/web.sock|" "$C"
expect_code 78 "a Unix socket: refused" -- mdir-web -c "$C"
sed -i "s/^listen = .*/listen = inet:127.0.0.1:$PORT/" "$C"
socat TCP-LISTEN:$PORT,bind=127.0.0.1,reuseaddr,fork /dev/null &
hold=$!
wait_for 10 sh -c "ss -Htln '( sport = :$PORT )' | grep -q ."
expect_code 69 "an address in use: EX_UNAVAILABLE" -- timeout 10 mdir-web -c "$C"
kill $hold
wait $hold 2>/dev/null
expect_code 64 "a bad option" -- mdir-web --nonsense
