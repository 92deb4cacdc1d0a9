#!/usr/bin/env bash
# supervise.sh NAME PIDFILE COMMAND...: keeps one service process running.
#
# Runs COMMAND (its output goes where ours goes: the service's log), writes its
# PID to PIDFILE at every start, and when it dies logs why (exit status or
# signal name) and starts it again after a backoff: 0.2 s, doubling up to 5 s,
# back to 0.2 s once a run lasted 30 s. SIGTERM or SIGINT to the supervisor
# passes SIGTERM to the service, waits for it (SIGKILL after STOP_TIMEOUT_S),
# and exits: stopping the supervisor never leaves the service behind.
# deploy/stack.sh starts one per service; systemd does this job in production
# (deploy/systemd/).
set -uo pipefail

[ $# -ge 3 ] || {
	echo "usage: supervise.sh NAME PIDFILE COMMAND..." >&2
	exit 2
}
NAME=$1
PIDFILE=$2
shift 2

BACKOFF_FIRST_MS=200
BACKOFF_MAX_MS=5000
STABLE_AFTER_S=30 # a run this long resets the backoff
STOP_TIMEOUT_S=${STOP_TIMEOUT_S:-4}

child=0
status=0
stopping=0

# One JSON line, in the services' own log format (common/log.c).
say() {
	local level=$1 when
	shift
	when=$(date -u +%Y-%m-%dT%H:%M:%S.%3NZ)
	printf '{"time":"%s","level":"%s","service":"supervisor","msg":"%s"}\n' "$when" "$level" "$*"
}

on_stop() { stopping=1; }
trap on_stop TERM INT

# Waits for the child and sets status to its exit status. A trapped signal
# interrupts `wait`; once stopping, the child gets SIGTERM, then SIGKILL after
# STOP_TIMEOUT_S (polled, since a blocking wait could not time out).
wait_child() {
	local deadline=0
	while :; do
		if [ "$stopping" = 0 ]; then
			wait "$child"
			status=$?
			kill -0 "$child" 2>/dev/null || return 0
			continue
		fi
		if ! kill -0 "$child" 2>/dev/null; then
			wait "$child"
			status=$?
			return 0
		fi
		if [ "$deadline" = 0 ]; then
			deadline=$((SECONDS + STOP_TIMEOUT_S))
			kill -TERM "$child" 2>/dev/null
		elif [ "$SECONDS" -ge "$deadline" ]; then
			say warn "$NAME (pid $child) did not exit within ${STOP_TIMEOUT_S} s of SIGTERM; killing it"
			kill -KILL "$child" 2>/dev/null
		fi
		sleep 0.1 &
		wait $! 2>/dev/null
	done
}

# Why it ended, in words: bash reports death by signal N as status 128+N.
describe() {
	if [ "$1" -gt 128 ] && [ "$1" -lt 192 ]; then
		echo "was killed by signal SIG$(kill -l $(($1 - 128)) 2>/dev/null || echo $(($1 - 128)))"
	else
		echo "exited with status $1"
	fi
}

delay_ms=$BACKOFF_FIRST_MS
while [ "$stopping" = 0 ]; do
	started=$SECONDS
	"$@" &
	child=$!
	echo "$child" >"$PIDFILE.tmp" && mv -f "$PIDFILE.tmp" "$PIDFILE"
	wait_child
	if [ "$stopping" = 1 ]; then
		say info "$NAME (pid $child) $(describe "$status") after SIGTERM: stopped"
		break
	fi
	[ $((SECONDS - started)) -ge "$STABLE_AFTER_S" ] && delay_ms=$BACKOFF_FIRST_MS
	say error "$NAME (pid $child) $(describe "$status"); restarting in $((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000))) s"
	sleep "$((delay_ms / 1000)).$(printf '%03d' $((delay_ms % 1000)))" &
	sleeper=$!
	wait "$sleeper" 2>/dev/null
	kill "$sleeper" 2>/dev/null # a stop cut the wait short
	delay_ms=$((delay_ms * 2))
	[ "$delay_ms" -le "$BACKOFF_MAX_MS" ] || delay_ms=$BACKOFF_MAX_MS
done
rm -f "$PIDFILE"
exit 0
