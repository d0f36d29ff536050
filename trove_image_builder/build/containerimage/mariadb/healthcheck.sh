#!/bin/bash
# The container health check Trove's agent configures for MariaDB:
#   healthcheck.sh --defaults-file FILE --connect --innodb_initialized
# Exit 0 when a client login works (--connect) and InnoDB is usable
# (--innodb_initialized). One client call: docker gives it 5 seconds.
set -eu -o pipefail

defaults=
innodb=0
while [ $# -gt 0 ]; do
    case "$1" in
        --defaults-file) defaults=$2; shift ;;
        --defaults-file=*) defaults=${1#--defaults-file=} ;;
        --innodb_initialized) innodb=1 ;;
        --connect) ;;
        *) echo "healthcheck.sh: unknown option $1" >&2; exit 2 ;;
    esac
    shift
done

client=(mariadb)
if [ -n "$defaults" ]; then
    client+=("--defaults-file=$defaults")
fi
support=$("${client[@]}" -N -B -e \
    "SELECT SUPPORT FROM information_schema.ENGINES WHERE ENGINE='InnoDB'")
if [ "$innodb" = 1 ]; then
    case "$support" in
        YES|DEFAULT) ;;
        *) echo "healthcheck.sh: InnoDB support is '$support'" >&2; exit 1 ;;
    esac
fi
