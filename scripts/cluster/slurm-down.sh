#!/usr/bin/env bash
# slurm-down.sh [DIR]: stop the local Slurm cluster whose state is in DIR (default /tmp/mpinit-slurm)
# and remove DIR. Daemons are stopped by the PIDs in DIR/run; a slurmstepd of a job step that is
# still running is found by the cluster's own SLURM_CONF in its environment. Does nothing, and
# succeeds, when no cluster is there; safe to run twice.
set -uo pipefail
B=${1:-/tmp/mpinit-slurm}
case "$B" in /*) ;; *) B=$PWD/$B ;; esac
[ -d "$B" ] || exit 0
# Only a directory slurm-up.sh made is removed.
if [ ! -f "$B/etc/slurm.conf" ] && [ ! -d "$B/run" ]; then
  echo "slurm-down.sh: $B does not look like a cluster made by slurm-up.sh; left alone" >&2
  exit 1
fi
export SLURM_CONF=$B/etc/slurm.conf

alive() { [ -n "$1" ] && kill -0 "$1" 2>/dev/null; }
pid_of() { local p; p=$(cat "$1" 2>/dev/null) && [ "$p" -gt 1 ] 2>/dev/null && echo "$p"; }
# Wait up to 5 s for each PID to exit, then SIGKILL it.
reap() {
  local p
  for p in "$@"; do
    for _ in $(seq 1 50); do alive "$p" || break; sleep 0.1; done
    alive "$p" && kill -9 "$p" 2>/dev/null
  done
  return 0
}

# Jobs still running are cancelled first, so that their steps end their tasks (KillWait=2).
pid_as() { local p; p=$(pid_of "$1") && alive "$p" && [ "$(cat "/proc/$p/comm" 2>/dev/null)" = "$2" ] && echo "$p"; }
if pid_as "$B/run/slurmctld.pid" slurmctld >/dev/null && pid_as "$B/run/munged.pid" munged >/dev/null; then
  jobs=$(timeout 5 squeue -h -o %i 2>/dev/null)
  if [ -n "$jobs" ]; then
    # shellcheck disable=SC2086
    timeout 5 scancel $jobs 2>/dev/null
    for _ in $(seq 1 100); do [ -z "$(timeout 5 squeue -h -o %i 2>/dev/null)" ] && break; sleep 0.1; done
  fi
fi

# Then every daemon at once, by SIGTERM (no RPC, so munged can go at the same time): slurmctld takes
# ~1.3 s and munged ~2 s to exit; what is still there after 5 s is killed. A PID file is trusted
# only while its process still has the daemon's name (PIDs get reused).
daemons=()
for f in "$B"/run/slurmctld.pid "$B"/run/slurmd-*.pid "$B"/run/munged.pid; do
  name=$(basename "$f" .pid)
  p=$(pid_as "$f" "${name%%-*}") && daemons+=("$p")
done
# slurmstepd of steps that would not end: they carry this cluster's SLURM_CONF.
for d in /proc/[0-9]*; do
  [ "$(cat "$d/comm" 2>/dev/null)" = slurmstepd ] || continue
  { tr '\0' '\n' <"$d/environ"; } 2>/dev/null | grep -qxF "SLURM_CONF=$SLURM_CONF" && daemons+=("${d#/proc/}")
done
if [ ${#daemons[@]} -gt 0 ]; then
  kill "${daemons[@]}" 2>/dev/null
  reap "${daemons[@]}"
fi

# Tasks of this cluster's jobs that outlived their step (SLURM_CONF and SLURM_JOB_ID in their
# environment), except this script and its callers.
mine=" $$ "
p=$$
while [ "$p" -gt 1 ] 2>/dev/null; do
  p=$(awk '/^PPid:/ { print $2 }' "/proc/$p/status" 2>/dev/null) || break
  mine="$mine$p "
done
for d in /proc/[0-9]*; do
  p=${d#/proc/}
  case "$mine" in *" $p "*) continue ;; esac
  env=$({ tr '\0' '\n' <"$d/environ"; } 2>/dev/null) || continue
  grep -qxF "SLURM_CONF=$SLURM_CONF" <<<"$env" && grep -q '^SLURM_JOB_ID=' <<<"$env" && kill -9 "$p" 2>/dev/null
done
rm -rf "$B"
exit 0
