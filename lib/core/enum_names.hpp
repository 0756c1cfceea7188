// The names of the public enums, one table each; to_string/from_string (enums.cpp) and the
// settings' rules read them. Internal.
#pragma once

#include <string>
#include <string_view>
#include <utility>

#include "mpinit/enums.hpp"
#include "mpinit/error.hpp"

namespace mpinit::detail {

template <class E>
struct EnumNames;  // static constexpr std::pair<E, const char*> items[]: every value, in order

template <>
struct EnumNames<InitMode> {
  static constexpr std::pair<InitMode, const char*> items[] = {
      {InitMode::own, "own"}, {InitMode::adopt, "adopt"}, {InitMode::own_if_needed, "own_if_needed"},
      {InitMode::env_only, "env_only"}};
};
template <>
struct EnumNames<ThreadLevel> {
  static constexpr std::pair<ThreadLevel, const char*> items[] = {{ThreadLevel::single, "single"},
                                                                  {ThreadLevel::funneled, "funneled"},
                                                                  {ThreadLevel::serialized, "serialized"},
                                                                  {ThreadLevel::multiple, "multiple"}};
};
template <>
struct EnumNames<LogLevel> {
  static constexpr std::pair<LogLevel, const char*> items[] = {
      {LogLevel::none, "none"}, {LogLevel::error, "error"}, {LogLevel::warn, "warn"},
      {LogLevel::info, "info"}, {LogLevel::debug, "debug"}, {LogLevel::trace, "trace"}};
};
template <>
struct EnumNames<CheckLevel> {
  static constexpr std::pair<CheckLevel, const char*> items[] = {
      {CheckLevel::off, "off"}, {CheckLevel::warn, "warn"}, {CheckLevel::error, "error"}};
};
template <>
struct EnumNames<NcclMode> {
  static constexpr std::pair<NcclMode, const char*> items[] = {
      {NcclMode::off, "off"}, {NcclMode::lazy, "lazy"}, {NcclMode::launch, "launch"}};
};
template <>
struct EnumNames<GpuPolicy> {
  static constexpr std::pair<GpuPolicy, const char*> items[] = {{GpuPolicy::spread, "spread"},
                                                                {GpuPolicy::exclusive, "exclusive"},
                                                                {GpuPolicy::split, "split"},
                                                                {GpuPolicy::none, "none"}};
};
template <>
struct EnumNames<Launcher> {
  static constexpr std::pair<Launcher, const char*> items[] = {
      {Launcher::none, "none"},   {Launcher::torchrun, "torchrun"}, {Launcher::openmpi, "openmpi"},
      {Launcher::mvapich2, "mvapich2"}, {Launcher::flux, "flux"}, {Launcher::pals, "pals"},
      {Launcher::jsm, "jsm"},     {Launcher::hydra, "hydra"},       {Launcher::slurm, "slurm"},
      {Launcher::pmix, "pmix"},   {Launcher::torch_env, "torch_env"}};
};
template <>
struct EnumNames<PlaceWhen> {
  static constexpr std::pair<PlaceWhen, const char*> items[] = {
      {PlaceWhen::automatic, "auto"}, {PlaceWhen::before, "before"}, {PlaceWhen::after, "after"}};
};
template <>
struct EnumNames<NetExport> {
  static constexpr std::pair<NetExport, const char*> items[] = {
      {NetExport::off, "off"}, {NetExport::mpi, "mpi"}, {NetExport::all, "all"}};
};
template <>
struct EnumNames<Errc> {
  static constexpr std::pair<Errc, const char*> items[] = {
      {Errc::invalid_environment, "invalid_environment"},
      {Errc::invalid_setting, "invalid_setting"},
      {Errc::mpi, "mpi"},
      {Errc::mismatch, "mismatch"},
      {Errc::not_built, "not_built"},
      {Errc::nccl, "nccl"},
      {Errc::internal, "internal"},
      {Errc::system, "system"},
      {Errc::application, "application"}};
};

template <class E>
const char* name_of(E e) noexcept {
  for (const auto& [v, n] : EnumNames<E>::items)
    if (v == e) return n;
  return "?";
}

template <class E>
bool value_of(std::string_view name, E& out) noexcept {
  for (const auto& [v, n] : EnumNames<E>::items)
    if (name == n) {
      out = v;
      return true;
    }
  return false;
}

/// Every name of E, joined: "off|lazy|launch".
template <class E>
std::string joined_names(const char* sep = "|") {
  std::string out;
  for (const auto& item : EnumNames<E>::items) out += (out.empty() ? "" : sep) + std::string(item.second);
  return out;
}

}  // namespace mpinit::detail
