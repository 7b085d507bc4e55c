#!/bin/sh
# One option parser for every program: --help and --version (and -V)
# everywhere, -c FILE and --config=FILE, before or after a subcommand, a
# bad option or argument is 64 (EX_USAGE; mdir-receive keeps 75), and
# nothing is created before the command line is known to be right.
. "${MDIR_SRC:-$(dirname "$0")/../..}/tests/lib.sh"
plan 83

C=$T/c.conf
CR=$T/croot
printf '[mdir]\nroot = %s\n' "$CR" >"$C"
# the default root ($MDIR_ROOT) must stay untouched by what is refused
untouched() { [ ! -e "$MDIR_ROOT" ] && [ ! -e "$CR" ]; }

for p in mdir-receive mdird mstore mdir-outbox smtp-stats; do
	expect_code 0 "$p --help" -- "$p" --help
	like "$out" "^Usage:" "$p --help prints the usage on stdout"
	expect_code 0 "$p --version" -- "$p" --version
	like "$out" "^$p [0-9]+\.[0-9]+\.[0-9]+$" "$p --version: its name and version"
	expect_code 0 "$p -V" -- "$p" -V
done
for p in mdird mstore mdir-outbox smtp-stats; do
	expect_code 0 "$p -h" -- "$p" -h
done

# subcommands: help and version after them too, the commands listed
like "$(mstore --help)" "  export " "mstore --help lists the commands"
like "$(smtp-stats --help)" "  whitelist " "smtp-stats --help lists the commands"
expect_code 0 "mstore put --help" -- mstore put --help
like "$out" "--name=NAME" "shows put's own options"
expect_code 0 "smtp-stats report --help" -- smtp-stats report --help
like "$out" "--format=FORMAT" "shows report's own options"
expect_code 0 "smtp-stats publish --version" -- smtp-stats publish --version
ok "$(untouched; echo $?)" "help and version create nothing"

# bad usage: 64, one line on stderr, nothing created
expect_code 64 "mstore --frob" -- mstore --frob ls SMTP
like "$err" "^mstore: Unknown option --frob$" "says which option"
expect_code 64 "mstore ls --frob" -- mstore ls --frob SMTP
like "$err" "^mstore: ls: Unknown option --frob$" "names the command"
expect_code 64 "mstore with no command" -- mstore
expect_code 64 "mstore frob" -- mstore frob
like "$err" "unknown command 'frob'" "an unknown command"
expect_code 64 "mstore version with no folder" -- mstore version
like "$err" "^mstore: version: too few arguments: expected FOLDER$" "says what was expected"
expect_code 64 "smtp-stats --frob" -- smtp-stats --frob policy
expect_code 64 "smtp-stats with no command" -- smtp-stats
expect_code 64 "smtp-stats frob" -- smtp-stats frob
expect_code 64 "smtp-stats report --frob" -- smtp-stats report --frob
expect_code 64 "smtp-stats report --format xml" -- smtp-stats report --format xml
expect_code 64 "smtp-stats report --day 2026-02-30" -- smtp-stats report --day 2026-02-30
expect_code 64 "smtp-stats publish without --daily or --monthly" -- smtp-stats publish
expect_code 64 "smtp-stats query a non-IP" -- smtp-stats query example.org
expect_code 64 "smtp-stats whitelist frob" -- smtp-stats whitelist frob net 192.0.2.0/24
expect_code 64 "smtp-stats blacklist add with a bad duration" -- smtp-stats blacklist add 192.0.2.1 soon
expect_code 64 "mdird --frob" -- mdird --frob
expect_code 64 "mdird with an argument" -- mdird extra
expect_code 64 "mdir-outbox --frob" -- mdir-outbox --frob
expect_code 64 "mdir-outbox with two folders" -- mdir-outbox A B
ok "$(untouched; echo $?)" "no root and no database made for a wrong command line"
expect_code 75 "mdir-receive --frob is 75 (a broken master.cf, retried)" -- mdir-receive --frob -- a@example.org </dev/null
ok "$(untouched; echo $?)" "nor by mdir-receive"

# -c before or after the subcommand, --config=FILE (MDIR_ROOT would win)
D=$MDIR_ROOT
unset MDIR_ROOT
expect_code 0 "mstore -c FILE init" -- mstore -c "$C" init
is "$out" "$CR" "uses FILE's root"
rm -rf "$CR"
expect_code 0 "mstore init -c FILE" -- mstore init -c "$C"
is "$out" "$CR" "after the command too"
expect_code 0 "mstore --config=FILE init" -- mstore --config="$C" init
is "$out" "$CR" "--config=FILE"
printf '[mdir]\nroot = %s\n' "$T/other" >"$T/other.conf"
expect_code 0 "mstore -c A init -c B" -- mstore -c "$T/other.conf" init -c "$C"
is "$out" "$CR" "the one after the command wins"
expect_code 0 "smtp-stats -c FILE whitelist add" -- smtp-stats -c "$C" whitelist add net 192.0.2.0/24
expect_code 0 "smtp-stats whitelist list -c FILE" -- smtp-stats whitelist list -c "$C"
like "$out" "^net	192\.0\.2\.0/24	" "reads FILE's database"
expect_code 0 "smtp-stats --config=FILE whitelist list" -- smtp-stats --config="$C" whitelist list
like "$out" "^net	192\.0\.2\.0/24	" "--config=FILE"
ok "$([ -e "$CR/.stats/stats.db" ] && [ ! -e "$D" ]; echo $?)" "the database is FILE's, not the default"
expect_code 66 "mdird -c a missing file" -- mdird -F -c "$T/none.conf"
like "$err" "none\.conf" "names the file"
expect_code 66 "mdir-outbox --config=a missing file" -- mdir-outbox --config="$T/none.conf"
like "$err" "none\.conf" "names the file"
mstore -c "$C" mkdir SMTP/Accounts/jo@example.org >/dev/null
expect_code 0 "mdir-receive with -c after the recipient" -- mdir-receive jo@example.org -c "$C" <"$DATA/multipart-mixed.eml"
ok "$([ -n "$(ls "$CR/.mdird/queue")" ] && [ ! -e "$D" ]; echo $?)" "delivered into FILE's root"
