// The mpinit command: env (what the launcher environment says) and info (per-rank identity).
#include <fmt/format.h>
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "mpinit/mpinit.hpp"

using nlohmann::json;

namespace {

json sourced(const std::optional<mpinit::Sourced<int>>& v) {
  if (!v) return nullptr;
  return {{"value", v->value}, {"source", v->source}};
}

json env_json(const mpinit::LaunchEnv& e) {
  json also = json::array();
  for (auto l : e.also_present) also.push_back(mpinit::launcher_name(l));
  json j = {{"launcher", mpinit::launcher_name(e.launcher)},
            {"rank", sourced(e.rank)},
            {"world_size", sourced(e.size)},
            {"local_rank", sourced(e.local_rank)},
            {"local_size", sourced(e.local_size)},
            {"node_rank", sourced(e.node_rank)},
            {"node_count", sourced(e.node_count)},
            {"nodes", e.nodes},
            {"also_present", also},
            {"notes", e.notes}};
  j["master_addr"] = e.master_addr ? json(e.master_addr->value) : json(nullptr);
  j["master_port"] = e.master_port ? json(e.master_port->value) : json(nullptr);
  return j;
}

json identity_json(const mpinit::Identity& id) {
  return {{"rank", id.rank.value},
          {"world_size", id.size.value},
          {"local_rank", id.local_rank.value},
          {"local_size", id.local_size.value},
          {"node_rank", id.node_rank.value},
          {"node_count", id.node_count.value},
          {"host", id.host},
          {"launcher", mpinit::launcher_name(id.launcher)},
          {"from_mpi", id.from_mpi},
          {"sources",
           {{"rank", id.rank.source},
            {"world_size", id.size.source},
            {"local_rank", id.local_rank.source},
            {"local_size", id.local_size.source},
            {"node_rank", id.node_rank.source},
            {"node_count", id.node_count.source}}}};
}

int cmd_env(bool as_json) {
  mpinit::LaunchEnv e;
  try {
    e = mpinit::parse_launch_env(mpinit::process_env());
  } catch (const mpinit::Error& err) {
    std::cerr << "mpinit env: " << err.what() << "\n";
    return 2;
  }
  if (as_json) {
    std::cout << env_json(e).dump(2) << "\n";
    return 0;
  }
  auto row = [](const char* name, const std::optional<mpinit::Sourced<int>>& v) {
    fmt::print("{:<12} {:>8}  {}\n", name, v ? std::to_string(v->value) : "-", v ? v->source : "(not given)");
  };
  fmt::print("{:<12} {}\n", "launcher", mpinit::launcher_name(e.launcher));
  row("rank", e.rank);
  row("world_size", e.size);
  row("local_rank", e.local_rank);
  row("local_size", e.local_size);
  row("node_rank", e.node_rank);
  row("node_count", e.node_count);
  if (!e.nodes.empty()) fmt::print("{:<12} {}\n", "nodes", fmt::join(e.nodes, ","));
  if (e.master_addr) fmt::print("{:<12} {}\n", "master_addr", e.master_addr->value);
  if (e.master_port) fmt::print("{:<12} {}\n", "master_port", e.master_port->value);
  for (auto l : e.also_present) fmt::print("{:<12} {}\n", "also", mpinit::launcher_name(l));
  for (const auto& n : e.notes) fmt::print("{:<12} {}\n", "note", n);
  return 0;
}

std::string table_line(const json& r) {
  const json& s = r["sources"];
  return fmt::format("{:<16} rank {:>4}/{:<4} local {:>3}/{:<3} node {:>3}/{:<3} launcher {:<9} from {}",
                     r["host"].get<std::string>(), r["rank"].get<int>(), r["world_size"].get<int>(),
                     r["local_rank"].get<int>(), r["local_size"].get<int>(), r["node_rank"].get<int>(),
                     r["node_count"].get<int>(), r["launcher"].get<std::string>(),
                     fmt::format("rank:{} local:{} node:{}", s["rank"].get<std::string>(),
                                 s["local_rank"].get<std::string>(), s["node_rank"].get<std::string>()));
}

int cmd_info(bool as_json, bool env_only, int argc, char** argv) {
  mpinit::Options opts;
  if (env_only) opts.mode = mpinit::InitMode::env_only;
  try {
    auto session = mpinit::launch(argc, argv, opts);
    json mine = identity_json(session.identity());
    if (env_only) {  // no MPI: each process prints its own record
      std::cout << (as_json ? mine.dump() : table_line(mine)) << std::endl;
      return 0;
    }
    // The report is opt-in O(P) at rank 0: gather one record per rank.
    MPI_Comm comm = session.comm();
    int rank = session.identity().rank.value, size = session.identity().size.value;
    std::string text = mine.dump();
    int len = static_cast<int>(text.size());
    std::vector<int> lens(rank == 0 ? size : 0), offs(rank == 0 ? size : 0);
    MPI_Gather(&len, 1, MPI_INT, lens.data(), 1, MPI_INT, 0, comm);
    std::string all;
    if (rank == 0) {
      int total = 0;
      for (int i = 0; i < size; ++i) offs[i] = total, total += lens[i];
      all.resize(total);
    }
    MPI_Gatherv(text.data(), len, MPI_CHAR, all.data(), lens.data(), offs.data(), MPI_CHAR, 0, comm);
    if (rank != 0) return 0;
    std::vector<json> records;
    for (int i = 0; i < size; ++i) records.push_back(json::parse(all.substr(offs[i], lens[i])));
    std::sort(records.begin(), records.end(),
              [](const json& a, const json& b) { return a["rank"].get<int>() < b["rank"].get<int>(); });
    if (as_json) {
      std::cout << json(records).dump(2) << std::endl;
    } else {
      for (const auto& r : records) std::cout << table_line(r) << "\n";
      std::cout.flush();
    }
    return 0;
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit info: " << e.what() << std::endl;
    return 1;
  }
}

}  // namespace

int main(int argc, char** argv) {
  CLI::App app{"mpinit: identity (and soon placement) of every rank of an MPI job", "mpinit"};
  app.set_version_flag("--version", std::string(mpinit::version()));
  app.require_subcommand(1);

  bool json_out = false;
  auto* env = app.add_subcommand("env", "Print what the launcher environment says about this process (no MPI)");
  env->add_flag("--json", json_out, "JSON output");

  bool env_only = false;
  auto* info = app.add_subcommand(
      "info", "Launch under a launcher and print one line per rank, sorted by rank, gathered to rank 0");
  info->add_flag("--json", json_out, "JSON output: an array with one record per rank");
  info->add_flag("--env-only", env_only, "Do not use MPI: each process prints its identity from the environment");

  CLI11_PARSE(app, argc, argv);
  if (env->parsed()) return cmd_env(json_out);
  if (info->parsed()) return cmd_info(json_out, env_only, argc, argv);
  return 0;
}
