#!/usr/bin/env bash
# A single-node Slurm cluster on this machine, for `make sweep` on a workstation and for the
# sweep's tests (tests/test_sweep.py): munge, then slurmctld and slurmd, with a minimal
# slurm.conf that names this host and its CPUs (one job per CPU, no accounting database).
#
# Needs root and the Debian packages munge, slurmctld, slurmd, slurm-client (installed by
# scripts/setup-system.sh). Idempotent: when the cluster already answers and the node is idle
# or busy, it does nothing. It never overwrites a slurm.conf that it did not write itself (a
# real cluster's); on such a machine, point the sweep at that cluster instead (README).
#
#   bash scripts/start-slurm.sh          # start (or check) the cluster; exit 0 when it is up
#   bash scripts/start-slurm.sh --stop   # stop the daemons this script started
set -euo pipefail

CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
MARK="# written by latent-geometry scripts/start-slurm.sh"
LOGDIR=/var/log/slurm
STATE=/var/lib/slurm
JOBCOMP=$LOGDIR/jobcomp.log

die() { echo "start-slurm: $*" >&2; exit 1; }

if [ "${1:-}" = "--stop" ]; then
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        [ -s "$pidfile" ] && kill "$(cat "$pidfile")" 2>/dev/null || true
    done
    exit 0
fi

[ "$(id -u)" = 0 ] || die "needs root (it starts munged, slurmctld and slurmd)"
for cmd in munged slurmctld slurmd sbatch squeue scontrol; do
    command -v "$cmd" >/dev/null || die "'$cmd' is missing: install munge slurmctld slurmd slurm-client (scripts/setup-system.sh)"
done

# --- munge: the authentication daemon every Slurm call goes through
if ! munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then
    install -d -o munge -g munge -m 0755 /run/munge
    install -d -o munge -g munge -m 0700 /var/log/munge /var/lib/munge /etc/munge
    if [ ! -s /etc/munge/munge.key ]; then
        dd if=/dev/urandom bs=1 count=1024 of=/etc/munge/munge.key status=none
    fi
    chown munge:munge /etc/munge/munge.key && chmod 0400 /etc/munge/munge.key
    runuser -u munge -- /usr/sbin/munged --force
    for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
    munge -n | unmunge >/dev/null || die "munged did not come up"
fi

# --- slurm.conf: this host, its CPUs and memory (as slurmd itself detects them), reached at
# 127.0.0.1 (so a container whose hostname does not resolve works too)
host=$(hostname -s)
node=$(slurmd -C | head -n 1)   # NodeName=HOST CPUs=.. Boards=.. ... RealMemory=..
want=$(cat <<CONF
$MARK
ClusterName=latentgeom
SlurmctldHost=$host(127.0.0.1)
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
StateSaveLocation=$STATE/slurmctld
SlurmdSpoolDir=$STATE/slurmd
SlurmctldPidFile=/run/slurmctld.pid
SlurmdPidFile=/run/slurmd.pid
SlurmctldLogFile=$LOGDIR/slurmctld.log
SlurmdLogFile=$LOGDIR/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
MpiDefault=none
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
MinJobAge=600
AccountingStorageType=accounting_storage/none
JobAcctGatherType=jobacct_gather/none
JobCompType=jobcomp/filetxt
JobCompLoc=$JOBCOMP
$node NodeAddr=127.0.0.1 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
CONF
)
if [ -f "$CONF" ] && ! grep -qF "$MARK" "$CONF"; then
    if scontrol ping 2>/dev/null | grep -q UP; then
        echo "start-slurm: a Slurm cluster configured by $CONF is already up; using it"
        exit 0
    fi
    die "$CONF exists and was not written by this script; not touching it"
fi
changed=0
if [ ! -f "$CONF" ] || [ "$(cat "$CONF")" != "$want" ]; then
    install -d "$(dirname "$CONF")"
    printf '%s\n' "$want" > "$CONF"
    changed=1
fi
install -d -m 0755 "$LOGDIR" "$STATE/slurmctld" "$STATE/slurmd"

running() { [ -s "$1" ] && kill -0 "$(cat "$1")" 2>/dev/null; }

if [ "$changed" = 1 ]; then   # a new configuration: restart whatever runs
    for pidfile in /run/slurmd.pid /run/slurmctld.pid; do
        if running "$pidfile"; then kill "$(cat "$pidfile")"; sleep 1; fi
    done
fi
running /run/slurmctld.pid || slurmctld
running /run/slurmd.pid || slurmd

# --- wait until the controller answers and the node takes jobs (seconds)
for _ in $(seq 100); do
    state=$(sinfo -h -n "$host" -o %T 2>/dev/null | head -n 1 || true)
    case "$state" in
        idle*|mixed*|allocated*|completing*) exit 0 ;;
        down*|drain*|fail*) scontrol update NodeName="$host" State=RESUME >/dev/null 2>&1 || true ;;
    esac
    sleep 0.2
done
die "the node did not come up (state: '${state:-none}'); see $LOGDIR/slurmctld.log and $LOGDIR/slurmd.log"
