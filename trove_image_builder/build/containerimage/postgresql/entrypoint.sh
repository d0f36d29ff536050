#!/bin/bash
# Entry point of a PostgreSQL container made by trove-image-builder for
# Trove's guest agent. It runs as uid 1001 (user postgres here, the
# agent's database_service_uid). Trove bind-mounts /etc/postgresql (its
# postgresql.conf and pg_hba.conf), the socket directory and the data
# volume, sets PGDATA and POSTGRES_PASSWORD and starts the container with
# "postgres -c config_file=...". An empty PGDATA is initialised first.
set -eu -o pipefail

if [ "${1:0:1}" = "-" ]; then
    set -- postgres "$@"
fi

if [ "$1" = postgres ] && [ ! -s "${PGDATA:?PGDATA is required}/PG_VERSION" ]; then
    if [ -z "${POSTGRES_PASSWORD:-}" ]; then
        echo "entrypoint: POSTGRES_PASSWORD is required to initialise" \
            "$PGDATA" >&2
        exit 1
    fi
    # The password reaches initdb through a file only it can read, never
    # through its command line.
    umask 077
    pwfile=$(mktemp /tmp/pw-XXXXXXXX)
    printf '%s\n' "$POSTGRES_PASSWORD" > "$pwfile"
    initdb --pgdata="$PGDATA" --username=postgres --pwfile="$pwfile" \
        --auth-local=trust --auth-host=scram-sha-256 >/dev/null
    rm -f "$pwfile"
fi
exec "$@"
