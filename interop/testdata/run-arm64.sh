#!/bin/bash
# run-arm64.sh BINARY [ARGS...] runs a linux/arm64 binary here, under
# qemu-user-static, together with every process it starts (the relay starts
# itself again as its sandbox workers). A private user and mount namespace
# gets its own binfmt_misc (Linux 6.7 and later) in which qemu-aarch64 is
# registered: the host's binfmt_misc is left alone. The binary keeps this
# process's id, so signals reach it.
set -euo pipefail
qemu=/usr/bin/qemu-aarch64-static
[ -x "$qemu" ] || { echo "run-arm64.sh: $qemu is missing: apt-get install qemu-user-static (make deps does)" >&2; exit 1; }
exec unshare --user --map-root-user --mount --propagation private /bin/bash -c '
set -euo pipefail
mount -t binfmt_misc binfmt_misc /proc/sys/fs/binfmt_misc
# Magic and mask of an aarch64 ELF executable, as Debian registers it;
# binfmt_misc decodes the \x escapes itself. F: the interpreter is opened
# now, so it works in any mount namespace.
printf "%s" ":qemu-aarch64:M::\\x7fELF\\x02\\x01\\x01\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x00\\x02\\x00\\xb7\\x00:\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\x00\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xff\\xfe\\xff\\xff\\xff:$1:F" \
	>/proc/sys/fs/binfmt_misc/register
shift
exec "$@"' run-arm64 "$qemu" "$@"
