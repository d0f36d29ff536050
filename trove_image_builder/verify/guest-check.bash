#!/bin/bash
# trove-image-builder verify: report on the serial console whether this
# guest is ready for Trove. Changes nothing in the guest.
# Runs as root from the seed's user data (see seed.py). No "set -e": a
# failed check is reported, not fatal. Values come from the params file
# beside it.
set -u -o pipefail
. /run/tib-verify/params

say() { printf 'TIB-VERIFY %s %s\n' "$nonce" "$*" > /dev/ttyS0; }
now() { cut -d. -f1 /proc/uptime; }
flat() { tr -s '\n\t' '  ' | cut -c1-300; }
prop() { systemctl show --property="$2" --value "$1"; }
state() {
    systemctl show --property=ActiveState,SubState,Result,NRestarts "$1" |
        flat
}

# One cloud-init run only: it takes seconds to start under emulation.
ci=$(cloud-init status --wait 2>&1 | sed -n 's/^.*status: *//p')
if [ "$ci" = done ]; then
    say cloud-init ok "status=$ci"
else
    say cloud-init fail "status=${ci:-unknown}" \
        "$(cloud-init status --long 2>&1 | grep -i -A2 error | flat)"
fi
deadline=$(( $(now) + wait_s ))

# Seconds since the unit last became active (its last (re)start).
active_for() {
    local since
    since=$(prop "$1" ActiveEnterTimestampMonotonic)
    echo $(( $(now) - ${since:-0} / 1000000 ))
}

# Active, and active without a restart for stable_s seconds.
wait_unit() {
    local unit=$1 restarts crashed up
    while :; do
        restarts=$(prop "$unit" NRestarts)
        crashed=no
        if [ "${restarts:-0}" -ge "$max_restarts" ]; then
            crashed=yes
        elif [ "$(systemctl is-active "$unit")" = failed ]; then
            crashed=yes
        fi
        if [ "$crashed" = yes ]; then
            say "$unit" fail "$(systemctl is-active "$unit"):" \
                "$(state "$unit")"
            return 1
        fi
        if [ "$(systemctl is-active "$unit")" = active ]; then
            up=$(active_for "$unit")
            if [ "$up" -ge "$stable_s" ]; then
                say "$unit" ok "$(systemctl is-active "$unit") for" \
                    "${up}s: $(state "$unit")"
                return 0
            fi
            sleep $(( stable_s - up ))
            continue
        fi
        if [ "$(now)" -ge "$deadline" ]; then
            say "$unit" fail "$(systemctl is-active "$unit"):" \
                "$(state "$unit")"
            return 1
        fi
        sleep 2
    done
}

# guest_id exists only in the injected guest_info.conf, and the log's
# place and debug level only in trove-guestagent.conf: the id in that
# log shows the agent read both.
agent_config() {
    while :; do
        if [ -f "$agent_log" ] && grep -qF "$guest_id" "$agent_log"; then
            say agent-config ok "guest_id $guest_id in $agent_log"
            return 0
        fi
        if [ "$(now)" -ge "$deadline" ]; then
            if [ -f "$agent_log" ]; then
                say agent-config fail "guest_id not in $agent_log;" \
                    "last line: $(tail -n 1 "$agent_log" | flat)"
            else
                say agent-config fail "no $agent_log;" \
                    "$(journalctl -u guest-agent -n 2 -o cat | flat)"
            fi
            return 1
        fi
        sleep 2
    done
}

wait_unit docker
wait_unit guest-agent
agent_config
docker image ls --no-trunc --format '{{.ID}} {{.Repository}}:{{.Tag}}' |
    while read -r id ref; do
        say image "$id" "$ref"
    done
say images-end "$(state trove-container-images.service)"
say done
