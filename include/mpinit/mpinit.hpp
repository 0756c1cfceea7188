// mpinit: one call turns a freshly started MPI process into a ready distributed worker.
#pragma once

#include "mpinit/enums.hpp"
#include "mpinit/env.hpp"
#include "mpinit/error.hpp"
#include "mpinit/export.hpp"
#include "mpinit/features.hpp"
#include "mpinit/identity.hpp"
#include "mpinit/log.hpp"
#include "mpinit/nccl.hpp"
#include "mpinit/rendezvous.hpp"
#include "mpinit/seed.hpp"
#include "mpinit/session.hpp"
#include "mpinit/settings.hpp"
#include "mpinit/sourced.hpp"
#include "mpinit/topology.hpp"
