#!/bin/sh
# An account's outbox (SMTP/Accounts/<addr>/Outbox) sends only as that
# account: From, Sender, Resent-From/-Sender must be the account, an alias
# (a link to it) or a +extension (issue 16.4).  One From, no less, no more.
# mdir's own SMTP/Outbox is the mdir user's alone (0700).  A record's
# negative outbox-attempts does not crash (issue 16.10).
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 21

A=$MDIR_ROOT/SMTP/Accounts
O=$A/jo@example.org/Outbox
cat >"$T/sendmail" <<SM
#!/bin/sh
n=\$(ls "$T/calls" | grep -c 'args\$')
printf '%s\n' "\$*" >"$T/calls/\$n.args"
cat >"$T/calls/\$n.eml"
exit \$(cat "$T/code" 2>/dev/null || echo 0)
SM
chmod +x "$T/sendmail"
mkdir -p "$T/calls"
printf '[mdir]\nroot = %s\n[receive]\nlocal_domains = example.org\n[outbox]\nsendmail = %s\n' \
	"$MDIR_ROOT" "$T/sendmail" >"$T/c.conf"
mstore -c "$T/c.conf" mkdir SMTP/Outbox SMTP/Accounts/jo@example.org/Outbox \
	SMTP/Accounts/ann@example.org >/dev/null
ln -s jo@example.org "$A/joseph@example.org"
calls() { ls "$T/calls" | grep -c '\.args$'; }
run() { mdir-outbox -c "$T/c.conf" >"$T/out" 2>&1; echo $?; }
meta() { grep -m1 "^$2: " "$1" | cut -d' ' -f2-; }
failure() { meta "$MDIR_ROOT/SMTP/Failed/.meta/$1" outbox-failure; }

# jo's outbox, From ann: a group member sending as another account
printf 'From: ann@example.org\nTo: x@example.net\nSubject: as ann\n\nx\n' >"$O/as-ann.eml"
is "$(run)" 0 "a message From another account: exit 0"
is "$(calls)" 0 "nothing sent"
like "$(failure as-ann.eml)" '<ann@example.org> is not jo@example.org nor an alias' "SMTP/Failed, saying why"
ok "$(ls "$A/jo@example.org" | grep -q '^Not sent_ as ann'; echo $?)" "the notice goes to the account whose outbox it was"
is "$(ls "$A/ann@example.org" | grep -c .)" 0 "and nothing to ann"

printf 'From: jo@example.org\nSender: ann@example.org\nTo: x@example.net\nSubject: sender\n\nx\n' >"$O/sender.eml"
run >/dev/null
like "$(failure sender.eml)" '<ann@example.org> is not' "a Sender of another account: refused too"
printf 'From: jo@example.org\nTo: x@example.net\nResent-From: ann@example.org\nResent-To: y@example.net\nSubject: resent\n\nx\n' >"$O/resent.eml"
run >/dev/null
like "$(failure resent.eml)" '<ann@example.org> is not' "a Resent-From of another account: refused"
printf 'From: Jo <jo@example.org>\nFrom: ann@example.org\nTo: x@example.net\nSubject: two\n\nx\n' >"$O/two-from.eml"
run >/dev/null
like "$(failure two-from.eml)" '2 From fields' "two From fields: refused"
printf 'Sender: jo@example.org\nTo: x@example.net\nSubject: none\n\nx\n' >"$O/no-from.eml"
run >/dev/null
like "$(failure no-from.eml)" 'no From field' "no From field: refused"
is "$(calls)" 0 "and none of them was sent"

# the account, an alias, an extension: sent
printf 'From: JO <Jo@Example.org>\nTo: x@example.net\nSubject: own\n\nx\n' >"$O/own.eml"
printf 'From: joseph@example.org\nTo: x@example.net\nSubject: alias\n\nx\n' >"$O/alias.eml"
printf 'From: jo+news@example.org\nTo: x@example.net\nSubject: ext\n\nx\n' >"$O/ext.eml"
run >/dev/null
is "$(calls)" 3 "From the account, an alias of it, or its +extension: sent"
is "$(cat "$T/calls/"*.args | sort | tr '\n' ' ')" \
	"-i -f Jo@Example.org -- x@example.net -i -f jo+news@example.org -- x@example.net -i -f joseph@example.org -- x@example.net " \
	"each from its own From"

# an alias's outbox is the account's: not scanned twice; ann has no outbox
printf 'From: jo@example.org\nTo: once@example.net\nSubject: once\n\nx\n' >"$O/once.eml"
run >/dev/null
is "$(cat "$T/calls/"*.args | grep -c once@example.net)" 1 "an account's outbox is sent once, aliases or not"

# a FOLDER that is no outbox
expect_code 64 "a folder that is not an outbox: EX_USAGE" -- mdir-outbox -c "$T/c.conf" SMTP/Accounts/ann@example.org
like "$err" 'not an outbox' "saying so"
mkdir -p "$A/ann@example.org/Outbox"
printf 'From: ann@example.org\nTo: x@example.net\nSubject: by name\n\nx\n' >"$A/ann@example.org/Outbox/n.eml"
before=$(calls)
expect_code 0 "an account's outbox by name" -- mdir-outbox -c "$T/c.conf" SMTP/Accounts/ann@example.org/Outbox
is "$(($(calls) - before))" 1 "is sent"

# mdir's own outbox is made private
chmod 0770 "$MDIR_ROOT/SMTP/Outbox"
run >/dev/null
is "$(stat -c %a "$MDIR_ROOT/SMTP/Outbox")" 700 "SMTP/Outbox is made 0700"

# issue 16.10: a negative attempt count (a record edited by hand)
printf 'From: jo@example.org\nTo: neg@example.net\nSubject: neg\n\nx\n' >"$O/neg.eml"
mkdir -p "$O/.meta"
printf 'outbox-attempts: -1\n' >"$O/.meta/neg.eml"
echo 75 >"$T/code"
is "$(run)" 0 "outbox-attempts -1 and a deferral: no crash"
is "$(meta "$O/.meta/neg.eml" outbox-attempts)" 1 "counted from one again"
printf 'outbox-attempts: 4294967296\n' >"$O/.meta/neg.eml"
is "$(run)" 0 "2^32 attempts: no crash either"
