// The mpinit command: env, info, plan, exec, check (see --help of each).
#include <fmt/format.h>
#include <mpi.h>

#include <CLI/CLI.hpp>
#include <algorithm>
#include <iostream>
#include <nlohmann/json.hpp>
#include <string>
#include <vector>

#include "commands.hpp"
#include "mpinit/mpinit.hpp"

using nlohmann::json;

namespace {

json sourced(int value, const std::string& source) {
  if (value == mpinit::kUnknown) return nullptr;
  return {{"value", value}, {"source", source}};
}

json env_json(const mpinit::LaunchEnv& e) {
  json also = json::array();
  for (auto l : e.also_present) also.push_back(mpinit::to_string(l));
  const mpinit::Sources& src = e.sources;
  json j = {{"launcher", mpinit::to_string(e.launcher)},
            {"rank", sourced(e.rank, src.rank)},
            {"world_size", sourced(e.size, src.size)},
            {"local_rank", sourced(e.local_rank, src.local_rank)},
            {"local_size", sourced(e.local_size, src.local_size)},
            {"node_rank", sourced(e.node_rank, src.node_rank)},
            {"node_count", sourced(e.node_count, src.node_count)},
            {"nodes", e.nodes},
            {"also_present", also},
            {"notes", e.notes}};
  j["master_addr"] = e.master_addr ? json(e.master_addr->value) : json(nullptr);
  j["master_port"] = e.master_port ? json(e.master_port->value) : json(nullptr);
  return j;
}

json identity_json(const mpinit::Identity& id) {
  return {{"rank", id.rank},
          {"world_size", id.size},
          {"local_rank", id.local_rank},
          {"local_size", id.local_size},
          {"node_rank", id.node_rank},
          {"node_count", id.node_count},
          {"host", id.host},
          {"launcher", mpinit::to_string(id.launcher)},
          {"from_mpi", id.from_mpi},
          {"sources",
           {{"rank", id.sources.rank},
            {"world_size", id.sources.size},
            {"local_rank", id.sources.local_rank},
            {"local_size", id.sources.local_size},
            {"node_rank", id.sources.node_rank},
            {"node_count", id.sources.node_count}}}};
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
  auto row = [](const char* name, int v, const std::string& source) {
    const bool known = v != mpinit::kUnknown;
    fmt::print("{:<12} {:>8}  {}\n", name, known ? std::to_string(v) : "-", known ? source : "(not given)");
  };
  const mpinit::Sources& src = e.sources;
  fmt::print("{:<12} {}\n", "launcher", mpinit::to_string(e.launcher));
  row("rank", e.rank, src.rank);
  row("world_size", e.size, src.size);
  row("local_rank", e.local_rank, src.local_rank);
  row("local_size", e.local_size, src.local_size);
  row("node_rank", e.node_rank, src.node_rank);
  row("node_count", e.node_count, src.node_count);
  if (!e.nodes.empty()) fmt::print("{:<12} {}\n", "nodes", fmt::join(e.nodes, ","));
  if (e.master_addr) fmt::print("{:<12} {}\n", "master_addr", e.master_addr->value);
  if (e.master_port) fmt::print("{:<12} {}\n", "master_port", e.master_port->value);
  for (auto l : e.also_present) fmt::print("{:<12} {}\n", "also", mpinit::to_string(l));
  for (const auto& n : e.notes) fmt::print("{:<12} {}\n", "note", n);
  return 0;
}

// One rank's plan, named plainly.
json plan_json(const mpinit::NodeTopology& t, const mpinit::RankPlan& p) {
  json gpus = json::array();
  for (size_t i = 0; i < p.gpus.size(); ++i) {
    const auto& g = t.gpus[p.gpus[i]];
    gpus.push_back({{"name", g.name}, {"busid", g.loc.busid}, {"ordinal", p.ordinals[i]}, {"physical", g.physical}});
  }
  json j = {{"local_rank", p.local_rank},
            {"gpus", gpus},
            {"gpu", p.gpus.empty() ? json(nullptr) : json(t.gpus[p.gpus[0]].name)},
            {"nic", p.nic < 0 ? json(nullptr) : json(t.nics[p.nic].name)},
            {"cpus", mpinit::format_cpus(p.cpus)},
            {"numa", p.numa},
            {"reason", p.reason}};
  return j;
}

std::string plan_cols(const json& p) {
  std::string gpu = "-";
  for (const auto& g : p["gpus"])
    gpu = (gpu == "-" ? "" : gpu + "+") + fmt::format("{}({})", g["name"].get<std::string>(), g["ordinal"].get<int>());
  std::string numa;
  for (const auto& n : p["numa"]) numa += (numa.empty() ? "" : ",") + std::to_string(n.get<int>());
  return fmt::format("gpu {:<14} nic {:<12} numa {:<5} cpus {}", gpu, p["nic"].is_null() ? "-" : p["nic"].get<std::string>(),
                     numa.empty() ? "-" : numa, p["cpus"].get<std::string>());
}

std::string seed_col(const json& r) { return fmt::format("  seed {}", r["rank_seed"].get<std::uint64_t>()); }

std::string table_line(const json& r) {
  const json& s = r["sources"];
  if (r.contains("placement"))
    return fmt::format("{:<16} rank {:>4}/{:<4} local {:>3}/{:<3} node {:>3}/{:<3} {}", r["host"].get<std::string>(),
                       r["rank"].get<int>(), r["world_size"].get<int>(), r["local_rank"].get<int>(),
                       r["local_size"].get<int>(), r["node_rank"].get<int>(), r["node_count"].get<int>(),
                       plan_cols(r["placement"])) +
           seed_col(r);
  return fmt::format("{:<16} rank {:>4}/{:<4} local {:>3}/{:<3} node {:>3}/{:<3} launcher {:<9} from {}",
                     r["host"].get<std::string>(), r["rank"].get<int>(), r["world_size"].get<int>(),
                     r["local_rank"].get<int>(), r["local_size"].get<int>(), r["node_rank"].get<int>(),
                     r["node_count"].get<int>(), r["launcher"].get<std::string>(),
                     fmt::format("rank:{} local:{} node:{}", s["rank"].get<std::string>(),
                                 s["local_rank"].get<std::string>(), s["node_rank"].get<std::string>())) +
         seed_col(r);
}

int cmd_info(bool as_json, bool env_only, bool sources, bool settings, const mpinit::Flags& flags) {
  mpinit::Options opts;
  opts.flags = flags;
  if (env_only) opts.mode = mpinit::InitMode::env_only;
  try {
    auto session = mpinit::launch(opts);
    json mine = identity_json(session.identity());
    if (const mpinit::RankPlan* p = session.plan()) {
      mine["placement"] = plan_json(*session.topology(), *p);
      mine["placement"]["applied"] = session.applied();
      mine["topology"] = {{"origin", session.topology()->origin}, {"discovered_here", session.discovered_topology()}};
    }
    // The plain names scripts look for, placement or not.
    const json* pl = mine.contains("placement") ? &mine["placement"] : nullptr;
    mine["gpu"] = pl ? (*pl)["gpu"] : json(nullptr);
    mine["gpu_busid"] = pl && !(*pl)["gpus"].empty() ? (*pl)["gpus"][0]["busid"] : json(nullptr);
    mine["nic"] = pl ? (*pl)["nic"] : json(nullptr);
    mine["cpus"] = pl ? (*pl)["cpus"] : json(nullptr);
    mine["global_seed"] = session.global_seed().value;
    mine["global_seed_source"] = session.global_seed().source;
    mine["rank_seed"] = session.rank_seed();
    if (sources) mine.erase("placement");
    if (settings) {
      for (const auto& row : mpinit::describe(session.settings()))
        mine["settings"][row.name] = {{"value", row.value}, {"source", row.source}};
    }
    if (env_only) {  // no MPI: each process prints its own record
      std::cout << (as_json ? mine.dump() : table_line(mine)) << std::endl;
      return 0;
    }
    // The report is opt-in O(P) at rank 0: gather one record per rank.
    MPI_Comm comm = session.comm();
    int rank = session.identity().rank, size = session.identity().size;
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
      std::cout << fmt::format("global seed {} ({})\n", records[0]["global_seed"].get<std::uint64_t>(),
                               records[0]["global_seed_source"].get<std::string>());
      if (settings)  // rank 0's settings (each rank's are in --json)
        for (const auto& [name, v] : records[0]["settings"].items())
          std::cout << fmt::format("setting {:<20} {:<16} from {}\n", name, v["value"].get<std::string>(),
                                   v["source"].get<std::string>());
      std::cout.flush();
    }
    return 0;
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit info: " << e.what() << std::endl;
    return 1;
  }
}

// Every setting mpinit reads, from its one table: as text, JSON, or the Markdown table of
// docs/environment.md.
int cmd_settings(bool as_json, bool markdown) {
  const auto& table = mpinit::setting_table();
  if (as_json) {
    json rows = json::array();
    for (const auto& row : table)
      rows.push_back({{"name", row.name}, {"variable", row.variable}, {"flag", row.flag}, {"field", row.field},
                      {"allowed", row.allowed}, {"default", row.default_value}, {"doc", row.doc}});
    std::cout << rows.dump(2) << "\n";
  } else if (markdown) {
    auto cell = [](std::string s) {  // a '|' inside a cell must be escaped, even in code
      for (size_t at = s.find('|'); at != std::string::npos; at = s.find('|', at + 2)) s.insert(at, "\\");
      return s;
    };
    std::cout << "| variable | flag | values | default | meaning |\n| --- | --- | --- | --- | --- |\n";
    for (const auto& row : table)
      std::cout << fmt::format("| `{}` | `{}` | `{}` | `{}` | {} |\n", row.variable, row.flag, cell(row.allowed),
                               row.default_value, cell(row.doc));
  } else {
    for (const auto& row : table)
      fmt::print("{:<28} {:<28} {:<30} default {}\n", row.variable, row.flag, row.allowed, row.default_value);
  }
  return 0;
}

}  // namespace

int cmd_plan(const std::string& file, const std::string& cpus, int ranks, const std::string& policy,
             const std::string& visible, bool as_json) {
  try {
    if (file.empty() && !cpus.empty()) throw mpinit::Error(mpinit::Errc::invalid_setting, "--cpus needs --topology");
    mpinit::NodeTopology t = file.empty() ? mpinit::discover_topology() : mpinit::load_topology(file, cpus);
    mpinit::PlanRequest req;
    req.local_size = ranks;
    req.policy = tool::parse_policy(policy);
    if (!visible.empty()) {
      req.visible = {mpinit::resolve_visible(t, "--visible", visible, "")};
      req.visible_source = "--visible";
    }
    mpinit::Placement plan = mpinit::plan_placement(t, req);
    if (as_json) {
      json out = {{"topology", t.origin}, {"ranks", json::array()}, {"notes", plan.notes}};
      json gpus = json::array(), nics = json::array();
      for (const auto& g : t.gpus)
        gpus.push_back({{"name", g.name}, {"busid", g.loc.busid}, {"physical", g.physical}, {"numa", g.loc.numa},
                        {"package", g.loc.package}, {"vendor", g.vendor}, {"osdevs", g.osdevs}});
      for (const auto& n : t.nics)
        nics.push_back({{"name", n.name}, {"busid", n.loc.busid}, {"kind", n.kind}, {"fabric", n.fabric},
                        {"numa", n.loc.numa}, {"package", n.loc.package}, {"link_gbps", n.link_gbps}, {"up", n.up},
                        {"port", n.port > 0 ? json(n.port) : json(nullptr)}});
      out["gpus"] = gpus;
      out["nics"] = nics;
      out["cores"] = t.cores.size();
      for (const auto& p : plan.ranks) out["ranks"].push_back(plan_json(t, p));
      std::cout << out.dump(2) << "\n";
      return 0;
    }
    size_t pus = 0;
    for (const auto& c : t.cores) pus += c.pus.size();
    fmt::print("topology {}: {} cores, {} PUs, {} NUMA nodes, {} GPUs, {} NICs\n", t.origin, t.cores.size(), pus,
               t.numa.size(), t.gpus.size(), t.nics.size());
    for (const auto& p : plan.ranks)
      fmt::print("local {:>3}  {}\n", p.local_rank, plan_cols(plan_json(t, p)));
    for (const auto& n : plan.notes) fmt::print("note: {}\n", n);
    return 0;
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit plan: " << e.what() << std::endl;
    return 2;
  }
}

int main(int argc, char** argv) {
  // --mpinit-* settings flags belong to mpinit, but only before "--": after it, everything is the
  // program's (mpinit exec), untouched.
  int sep = 1;
  while (sep < argc && std::string(argv[sep]) != "--") ++sep;
  std::vector<char*> head(argv, argv + sep);
  head.push_back(nullptr);
  int head_argc = sep;
  char** head_argv = head.data();
  mpinit::Flags flags;
  try {
    flags = mpinit::take_flags(&head_argc, &head_argv);
  } catch (const mpinit::Error& e) {
    std::cerr << "mpinit: " << e.what() << std::endl;
    return 2;
  }
  std::vector<char*> args(head_argv, head_argv + head_argc);
  std::vector<std::string> program(argv + std::min(sep + 1, argc), argv + argc);
  const bool has_separator = sep < argc;

  CLI::App app{"mpinit: turn freshly started MPI processes into ready workers, and show how", "mpinit"};
  app.footer("Settings: --mpinit-NAME=VALUE before \"--\" (e.g. --mpinit-seed=7), or MPINIT_NAME in the environment.");
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
  bool sources = false, show_settings = false;
  info->add_flag("--sources", sources, "Show where each identity value came from instead of the placement");
  info->add_flag("--settings", show_settings, "Also show every setting, its value and where it came from");

  std::string topo_file, policy = "spread", visible, cpus;
  int ranks = 1;
  auto* plan = app.add_subcommand("plan", "Print the placement plan of a node without running anything");
  plan->add_option("--topology", topo_file, "hwloc XML file (default: discover this machine)")->check(CLI::ExistingFile);
  plan->add_option("--cpus", cpus, "Plan inside these CPUs only (e.g. 0-39), as a job cpuset would restrict it");
  plan->add_option("--ranks", ranks, "Local ranks on the node")->check(CLI::Range(1, 1 << 16));
  plan->add_option("--policy", policy, "GPU policy: spread, exclusive, split, none");
  plan->add_option("--visible", visible, "Visible GPUs, as CUDA_VISIBLE_DEVICES would list them");
  plan->add_flag("--json", json_out, "JSON output");
  std::string annotate;
  plan->add_option("--annotate", annotate, "Write the topology with the plan drawn in (XML for lstopo -i) to this file");

  bool markdown = false;
  auto* settings_cmd = app.add_subcommand("settings", "List every setting: its variable, flag, values and default");
  settings_cmd->add_flag("--json", json_out, "JSON output");
  settings_cmd->add_flag("--markdown", markdown, "The Markdown table of docs/environment.md");

  tool::ExecArgs ea;
  auto* exec = app.add_subcommand("exec", "Run a torchrun-style program under mpirun or srun: mpinit exec [options] -- PROGRAM [ARGS...]");
  exec->add_option("--master-addr", ea.master_addr, "MASTER_ADDR (default: agreed over MPI, rank 0's address)");
  exec->add_option("--master-port", ea.master_port, "MASTER_PORT (default: a port rank 0 found free)")->check(CLI::Range(1, 65535));
  exec->add_flag("--env-only", ea.env_only, "Do not use MPI (e.g. srun --mpi=none): identity and rendezvous from Slurm's variables");

  auto* place = app.add_subcommand("place", "Place an existing program (an MPI one too) and become it, without "
                                             "initializing MPI: mpinit place -- PROGRAM [ARGS...]");

  tool::CheckArgs ca;
  auto* check = app.add_subcommand("check", "Health check under a launcher: identity consistency, MPI allreduce, NCCL allreduce; exit 0 only if healthy");
  check->add_flag("--json", ca.json, "JSON output");
  check->add_option("--expect-size", ca.expect_size, "Fail unless the world has this many ranks")->check(CLI::Range(1, 1 << 24));
  check->add_option("--expect-nodes", ca.expect_nodes, "Fail unless the job spans this many nodes")->check(CLI::Range(1, 1 << 24));

  try {
    app.parse(static_cast<int>(args.size()), args.data());
  } catch (const CLI::ParseError& e) {
    return app.exit(e);
  }
  if (has_separator && !exec->parsed() && !place->parsed()) {
    std::cerr << "mpinit: \"--\" is only for mpinit exec and mpinit place" << std::endl;
    return 2;
  }
  if (env->parsed()) return cmd_env(json_out);
  if (settings_cmd->parsed()) return cmd_settings(json_out, markdown);
  if (info->parsed()) return cmd_info(json_out, env_only, sources, show_settings, flags);
  if (plan->parsed())
    return annotate.empty() ? cmd_plan(topo_file, cpus, ranks, policy, visible, json_out)
                            : tool::annotate_plan(topo_file, cpus, ranks, policy, visible, annotate);
  if (exec->parsed()) {
    if (!has_separator || program.empty()) {
      std::cerr << "mpinit exec: no program (mpinit exec [options] -- PROGRAM [ARGS...])" << std::endl;
      return 2;
    }
    ea.argv = program;
    return tool::cmd_exec(ea, flags);
  }
  if (place->parsed()) {
    if (!has_separator || program.empty()) {
      std::cerr << "mpinit place: no program (mpinit place [settings] -- PROGRAM [ARGS...])" << std::endl;
      return 2;
    }
    return tool::cmd_place(program, flags);
  }
  if (check->parsed()) return tool::cmd_check(ca, flags);
  return 0;
}
