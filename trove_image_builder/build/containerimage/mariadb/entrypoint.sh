#!/bin/bash
# Entry point of a MariaDB container made by trove-image-builder for
# Trove's guest agent. It runs as uid 1001 (the agent's
# database_service_uid), so it never changes owners or users. Trove
# bind-mounts /etc/mysql (its my.cnf), /var/run/mysqld and the data
# volume, and starts the container with server options only
# ("--defaults-file=... --datadir=..."). On an empty data directory the
# server is initialised, root@localhost gets MYSQL_ROOT_PASSWORD and a
# local healthcheck account is written for healthcheck.sh.
set -eu -o pipefail

if [ "${1:0:1}" = "-" ]; then
    set -- mariadbd "$@"
fi
case "$1" in
    mariadbd|mysqld) ;;
    *) exec "$@" ;;
esac

defaults=
datadir=/var/lib/mysql/data
for arg in "$@"; do
    case "$arg" in
        --defaults-file=*) defaults=${arg#--defaults-file=} ;;
        --datadir=*) datadir=${arg#--datadir=} ;;
    esac
done

if [ -d "$datadir/mysql" ]; then
    exec "$@"
fi

if [ -z "${MYSQL_ROOT_PASSWORD:-}" ]; then
    echo "entrypoint: MYSQL_ROOT_PASSWORD is required to initialise" \
        "$datadir" >&2
    exit 1
fi

install_args=()
if [ -n "$defaults" ]; then
    # mariadb-install-db takes --defaults-file only as its first option.
    install_args+=("--defaults-file=$defaults")
fi
install_args+=("--datadir=$datadir" --skip-test-db --skip-name-resolve
    --auth-root-authentication-method=normal)
if ! out=$(mariadb-install-db "${install_args[@]}" 2>&1); then
    printf '%s\n' "$out" >&2
    echo "entrypoint: mariadb-install-db failed" >&2
    exit 1
fi

quote() {
    local s=${1//\\/\\\\}
    printf "'%s'" "${s//\'/\\\'}"
}
# head ends on its own: no writer killed by SIGPIPE, which pipefail
# would turn into an exit before the accounts exist.
health_password=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
umask 077
cat > "$datadir/.my-healthcheck.cnf" <<CNF
[mariadb-client]
user=healthcheck
password=$health_password
socket=/var/run/mysqld/mysqld.sock
protocol=socket
CNF

# One server start: the accounts are set by --init-file. The file holds
# the root password, so it lives in the container's own /tmp (never on
# the volume) and is removed once the accounts it creates work.
init=$(mktemp /tmp/init-XXXXXXXX.sql)
cat > "$init" <<SQL
ALTER USER 'root'@'localhost' IDENTIFIED BY $(quote "$MYSQL_ROOT_PASSWORD");
CREATE USER 'healthcheck'@'localhost' IDENTIFIED BY '$health_password';
GRANT USAGE ON *.* TO 'healthcheck'@'localhost';
SQL
(
    for _ in $(seq 600); do
        sleep 1
        if mariadb --defaults-file="$datadir/.my-healthcheck.cnf" \
                -e 'SELECT 1' >/dev/null 2>&1; then
            break
        fi
    done
    rm -f "$init"
) &
exec "$@" "--init-file=$init"
