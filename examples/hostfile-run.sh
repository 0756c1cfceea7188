#!/bin/sh
# mpirun across several hosts: one line per host with its slots (ranks).
#   node01 slots=4
#   node02 slots=4
set -eu
HOSTFILE=${1:-hosts}
mpirun --hostfile "$HOSTFILE" -np 8 mpinit check --expect-nodes 2   # is the job healthy?
mpirun --hostfile "$HOSTFILE" -np 8 mpinit info                      # who sits where
mpirun --hostfile "$HOSTFILE" -np 8 ./hello_cpp                      # your program
mpirun --hostfile "$HOSTFILE" -np 8 --map-by node mpinit exec -- python3 train.py
