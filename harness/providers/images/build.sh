#!/bin/sh
# Container images for `--servers container` without a registry: root filesystems made of this
# machine's own Debian binaries (PostgreSQL 15, Redis, RabbitMQ 3.10 with Erlang), each with an
# entrypoint that behaves like the official image's as the container provider uses it
# (harness/providers/kinds.py: POSTGRES_HOST_AUTH_METHOD and POSTGRES_USER; the guest user and
# the management API on 15672), `docker import`ed as wastecoach-local/<kind>. Use them with
#   WASTECOACH_POSTGRES_IMAGE=wastecoach-local/postgres:15
#   WASTECOACH_REDIS_IMAGE=wastecoach-local/redis:7
#   WASTECOACH_RABBITMQ_IMAGE=wastecoach-local/rabbitmq:3.10-management
# Needs: docker (an engine with a bridge network, for the mapped ports), and the packages
# postgresql-15, redis-server, rabbitmq-server installed. Usage: build.sh [postgres|redis|rabbitmq]...
set -eu
HERE=$(cd "$(dirname "$0")" && pwd)
WORK=$(mktemp -d "${TMPDIR:-/tmp}/wastecoach-images.XXXXXX")
trap 'rm -rf "$WORK"' EXIT

# Copy paths (files, directories, symlinks) into the root $1, then every shared library an
# executable or .so below it needs (ldd), and the name-service files glibc loads at run time.
populate() {
    root=$1; shift
    for path in "$@"; do
        [ -e "$path" ] || { echo "build.sh: $path is missing; install its package" >&2; exit 2; }
        mkdir -p "$root$(dirname "$path")"
        cp -a "$path" "$root$(dirname "$path")/"
        if [ -L "$path" ]; then  # and what the link names (redis-server -> redis-check-rdb)
            target=$(readlink -f "$path")
            mkdir -p "$root$(dirname "$target")"
            [ -e "$root$target" ] || cp -a "$target" "$root$target"
        fi
    done
    { find "$root" -type f -perm -u+x; find "$root" -type f -name '*.so*'; } | while read -r binary; do
        ldd "$binary" 2>/dev/null | grep -o '/[^ ]*' || true
    done | sort -u | while read -r library; do
        [ -e "$root$library" ] && continue
        mkdir -p "$root$(dirname "$library")"
        cp -L "$library" "$root$library"
    done
    for library in /usr/lib/x86_64-linux-gnu/libnss_files.so.2 /usr/lib/x86_64-linux-gnu/libnss_dns.so.2; do
        [ -e "$library" ] && mkdir -p "$root$(dirname "$library")" && cp -L "$library" "$root$library"
    done
    mkdir -p "$root/etc" "$root/tmp"
    chmod 1777 "$root/tmp"
    printf 'hosts: files dns\n' > "$root/etc/nsswitch.conf"
    [ -e "$root/bin" ] || ln -s usr/bin "$root/bin"
}

# Import root $1 with entrypoint $2 as image $3, exposing ports $4.
import() {
    cp "$2" "$1/docker-entrypoint.sh"
    chmod +x "$1/docker-entrypoint.sh"
    expose=""
    for port in $4; do expose="$expose --change 'EXPOSE $port'"; done
    tar -C "$1" -c . | eval docker import --change "'ENTRYPOINT [\"/docker-entrypoint.sh\"]'" "$expose" - "$3" >/dev/null
    echo "built $3"
}

COMMON="/usr/bin/sh /usr/bin/dash /usr/bin/env /usr/bin/mkdir /usr/bin/chown /usr/bin/cat /usr/bin/setpriv"

postgres() {
    root=$WORK/postgres
    # shellcheck disable=SC2086
    populate "$root" /usr/lib/postgresql/15 /usr/share/postgresql/15 $COMMON
    printf 'root:x:0:0:root:/root:/bin/sh\npostgres:x:999:999:postgres:/var/lib/postgresql:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\npostgres:x:999:\n' > "$root/etc/group"
    mkdir -p "$root/var/lib/postgresql"
    import "$root" "$HERE/postgres-entrypoint.sh" wastecoach-local/postgres:15 5432
}

redis() {
    root=$WORK/redis
    # shellcheck disable=SC2086
    populate "$root" /usr/bin/redis-server $COMMON
    printf 'root:x:0:0:root:/root:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    import "$root" "$HERE/redis-entrypoint.sh" wastecoach-local/redis:7 6379
}

rabbitmq() {
    root=$WORK/rabbitmq
    # The server scripts are shell: they need these tools.
    tools=""
    for tool in bash sed basename dirname readlink id rm grep tr cut head tail uname hostname ls sleep expr gawk realpath cp sort wc printf echo test true false touch chmod; do
        tools="$tools /usr/bin/$tool"
    done
    # shellcheck disable=SC2086
    populate "$root" /usr/lib/erlang /usr/lib/rabbitmq /usr/bin/erl $COMMON $tools
    ln -sf gawk "$root/usr/bin/awk"
    printf 'root:x:0:0:root:/var/lib/rabbitmq:/bin/sh\n' > "$root/etc/passwd"
    printf 'root:x:0:\n' > "$root/etc/group"
    mkdir -p "$root/etc/rabbitmq" "$root/var/lib/rabbitmq"
    import "$root" "$HERE/rabbitmq-entrypoint.sh" wastecoach-local/rabbitmq:3.10-management "5672 15672"
}

command -v docker >/dev/null || { echo "build.sh: docker is not installed" >&2; exit 2; }
[ $# -gt 0 ] || set -- postgres redis rabbitmq
for kind in "$@"; do
    case $kind in
        postgres|redis|rabbitmq) "$kind" ;;
        *) echo "build.sh: unknown kind $kind (postgres, redis or rabbitmq)" >&2; exit 2 ;;
    esac
done
