// to_string and from_string of every public enum, from the tables of enum_names.hpp.
#include "core/enum_names.hpp"

namespace mpinit {
inline namespace v2 {

#define MPINIT_ENUM_CODEC(E)                                                                         \
  const char* to_string(E e) noexcept { return detail::name_of(e); }                                 \
  bool from_string(std::string_view name, E& out) noexcept { return detail::value_of(name, out); }

MPINIT_ENUM_CODEC(InitMode)
MPINIT_ENUM_CODEC(ThreadLevel)
MPINIT_ENUM_CODEC(LogLevel)
MPINIT_ENUM_CODEC(CheckLevel)
MPINIT_ENUM_CODEC(NcclMode)
MPINIT_ENUM_CODEC(GpuPolicy)
MPINIT_ENUM_CODEC(Launcher)
MPINIT_ENUM_CODEC(PlaceWhen)
MPINIT_ENUM_CODEC(NetExport)
MPINIT_ENUM_CODEC(Errc)

#undef MPINIT_ENUM_CODEC

}  // namespace v2
}  // namespace mpinit
