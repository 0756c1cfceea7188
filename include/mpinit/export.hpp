// What the shared library exports: the library is built with hidden visibility, and only
// declarations marked MPINIT_API are part of its ABI.
#pragma once

#if defined(_WIN32)
#define MPINIT_API
#else
#define MPINIT_API __attribute__((visibility("default")))
#endif
