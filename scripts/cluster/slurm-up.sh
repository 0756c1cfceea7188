#!/usr/bin/env bash
# slurm-up.sh [NODES [DIR]]: start a local Slurm cluster of NODES fake nodes n1..nNODES (default 2)
# with its state in DIR (default /tmp/mpinit-slurm): munged with its own key, slurmctld, and one
# slurmd per node, each in its own UTS namespace so that its tasks see host name nK. Every node has
# 4 CPUs and 2 fake GPUs (gres gpu:2). Prints "export SLURM_CONF=..." for the clients on success.
#
# Safe to run twice: a cluster already running in DIR is stopped first (slurm-down.sh). Ports are
# fixed (slurmctld 16817, slurmd 16818 and 17001+), so one cluster runs at a time on a machine.
# The settings that are not obvious are explained in docs/launchers.md.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
N=${1:-2}
B=${2:-/tmp/mpinit-slurm}
case "$N" in '' | *[!0-9]* | 0) echo "slurm-up.sh: NODES='$N' must be a positive integer" >&2; exit 2 ;; esac
case "$B" in /*) ;; *) B=$PWD/$B ;; esac

"$here/slurm-down.sh" "$B" >/dev/null
for port in 16817 16818 $(seq 17001 $((17000 + N))); do
  if ss -Hltn "sport = :$port" 2>/dev/null | grep -q .; then
    echo "slurm-up.sh: port $port is in use (another cluster? stop it with slurm-down.sh DIR)" >&2
    exit 1
  fi
done

mkdir -p "$B"/{etc,state,log,run,dev}
for i in $(seq 1 "$N"); do mkdir -p "$B/spool/n$i" "$B/tmp/n$i"; done
chmod 700 "$B/etc" "$B/run"
# Whatever fails from here on leaves nothing running (and shows the daemons' logs).
on_failure() {
  local f
  for f in "$B"/log/*.log; do echo "== $f" && tail -5 "$f"; done >&2
  "$here/slurm-down.sh" "$B" >/dev/null
  echo "slurm-up.sh: failed (log tails above)" >&2
}
trap on_failure ERR

dd if=/dev/urandom of="$B/etc/munge.key" bs=1024 count=1 status=none
chmod 600 "$B/etc/munge.key"
munged --force --socket="$B/run/munge.sock" --key-file="$B/etc/munge.key" --pid-file="$B/run/munged.pid" \
  --log-file="$B/log/munged.log" --seed-file="$B/run/munged.seed"

# gres File= must name character devices: twins of /dev/null stand in for GPUs.
for g in 0 1; do mknod "$B/dev/gpu$g" c 1 3; done

cat >"$B/etc/slurm.conf" <<CONF
ClusterName=mpinit
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmUser=root
SlurmctldPort=16817
SlurmdPort=16818
CommunicationParameters=NoCtldInAddrAny
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$B/run/munge.sock
StateSaveLocation=$B/state
SlurmdSpoolDir=$B/spool/%n
TmpFS=$B/tmp/%n
SlurmctldPidFile=$B/run/slurmctld.pid
SlurmdPidFile=$B/run/slurmd-%n.pid
SlurmctldLogFile=$B/log/slurmctld.log
SlurmdLogFile=$B/log/slurmd-%n.log
SlurmdParameters=config_overrides
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=pmix
MailProg=/bin/true
ReturnToService=2
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/none
GresTypes=gpu
InactiveLimit=0
MinJobAge=5
KillWait=2
NodeName=n[1-$N] NodeHostname=n[1-$N] NodeAddr=127.0.0.1 Port=[17001-$((17000 + N))] CPUs=4 Boards=1 SocketsPerBoard=1 CoresPerSocket=4 ThreadsPerCore=1 RealMemory=1000 Gres=gpu:2 State=UNKNOWN
PartitionName=debug Nodes=ALL Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
CONF
echo "PMIxCollFence=ring" >"$B/etc/mpi.conf"
printf 'AutoDetect=off\nName=gpu File=%s/dev/gpu[0-1]\n' "$B" >"$B/etc/gres.conf"

export SLURM_CONF=$B/etc/slurm.conf
slurmctld -f "$SLURM_CONF"
for i in $(seq 1 "$N"); do
  unshare --uts sh -c "hostname n$i && exec slurmd -f '$SLURM_CONF' -N n$i"
done
for _ in $(seq 1 100); do
  if [ "$(sinfo -h -N -t idle -o %N 2>/dev/null | wc -l)" = "$N" ]; then
    trap - ERR
    echo "export SLURM_CONF=$SLURM_CONF"
    exit 0
  fi
  sleep 0.2
done
echo "slurm-up.sh: the $N nodes did not become idle in 20 s" >&2
false
