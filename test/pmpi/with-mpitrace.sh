#!/bin/sh
# with-mpitrace.sh LIB PROGRAM [ARGS...]: runs PROGRAM with the PMPI check layer LIB
# (test/pmpi/mpitrace.cpp) preloaded, ahead of anything LD_PRELOAD already holds (the sanitizer
# build's nodlclose.so). Put it after mpiexec, so that only the ranks load the layer:
#   mpiexec -np 3 sh with-mpitrace.sh build/test/libmpitrace.so build/tools/mpinit info
lib=$1
shift
LD_PRELOAD=$lib${LD_PRELOAD:+:$LD_PRELOAD} exec "$@"
