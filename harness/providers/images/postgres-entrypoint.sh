#!/bin/sh
# A PostgreSQL 15 container from the host's Debian binaries, configured like the official
# image's: POSTGRES_USER (default postgres), trust for every host when
# POSTGRES_HOST_AUTH_METHOD=trust, data in /var/lib/postgresql/data.
set -e
PGDATA=/var/lib/postgresql/data
BIN=/usr/lib/postgresql/15/bin
AS_PG="setpriv --reuid=999 --regid=999 --clear-groups"
if [ ! -s "$PGDATA/PG_VERSION" ]; then
  mkdir -p "$PGDATA"
  chown 999:999 "$PGDATA"
  $AS_PG $BIN/initdb -D "$PGDATA" -U "${POSTGRES_USER:-postgres}" --auth="${POSTGRES_HOST_AUTH_METHOD:-trust}" --no-locale -E UTF8
  echo "host all all all ${POSTGRES_HOST_AUTH_METHOD:-trust}" >> "$PGDATA/pg_hba.conf"
fi
exec $AS_PG $BIN/postgres -D "$PGDATA" -c listen_addresses='*' -c unix_socket_directories=/tmp
