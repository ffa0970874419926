#pragma once
/// @file
/// The Google Benchmark plumbing the benchmark programs share: a console reporter that also
/// keeps each case's CPU time (for the ratio tables printed after the run), and the default
/// flags that make those tables steadier on a noisy machine.

#include <benchmark/benchmark.h>

#include <algorithm>
#include <cstring>
#include <map>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <unistd.h>

namespace bench {

/// Identifies one benchmark instance independently of how the run was named.
inline std::string key_of(const benchmark::BenchmarkReporter::Run& run) {
  std::string key = run.run_name.function_name;
  if (!run.run_name.args.empty()) key += "/" + run.run_name.args;
  if (!run.run_name.threads.empty()) key += "/" + run.run_name.threads;
  return key;
}

/// Prints what the console reporter prints, and keeps the CPU time per iteration (ns) of
/// every case: the median over repetitions when there are several.
class CapturingReporter final : public benchmark::ConsoleReporter {
public:
  explicit CapturingReporter(OutputOptions options) : ConsoleReporter(options) {}

  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const std::string key = key_of(run);
      const double ns = run.GetAdjustedCPUTime() * multiplier(run.time_unit);
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[key] = ns;
      } else {
        samples_[key].push_back(ns);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }

  /// CPU ns per benchmark iteration of `key`, if it ran.
  [[nodiscard]] std::optional<double> ns_per_iteration(const std::string& key) const {
    if (auto it = medians_.find(key); it != medians_.end()) return it->second;
    auto it = samples_.find(key);
    if (it == samples_.end() || it->second.empty()) return std::nullopt;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    const std::size_t n = v.size();
    return n % 2 == 1 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2;
  }

private:
  static double multiplier(benchmark::TimeUnit unit) {
    switch (unit) {
      case benchmark::kSecond: return 1e9;
      case benchmark::kMillisecond: return 1e6;
      case benchmark::kMicrosecond: return 1e3;
      case benchmark::kNanosecond: return 1;
    }
    return 1;
  }

  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, double> medians_;
};

inline bool has_flag(int argc, char** argv, const char* name) {
  const std::size_t n = std::strlen(name);
  for (int i = 1; i < argc; ++i) {
    if (std::strncmp(argv[i], name, n) == 0 && (argv[i][n] == '=' || argv[i][n] == '\0')) return true;
  }
  return false;
}

/// argv plus the defaults (5 repetitions, min time 0.1 s, aggregates only) the user did not
/// give; `storage` owns the added strings. The result ends with a null pointer.
inline std::vector<char*> with_default_flags(int argc, char** argv, std::vector<std::string>& storage) {
  std::vector<char*> args(argv, argv + argc);
  if (!has_flag(argc, argv, "--benchmark_repetitions")) storage.emplace_back("--benchmark_repetitions=5");
  if (!has_flag(argc, argv, "--benchmark_min_time")) storage.emplace_back("--benchmark_min_time=0.1");
  if (!has_flag(argc, argv, "--benchmark_display_aggregates_only") &&
      !has_flag(argc, argv, "--benchmark_report_aggregates_only")) {
    storage.emplace_back("--benchmark_display_aggregates_only=true");
  }
  for (auto& s : storage) args.insert(args.begin() + 1, s.data());
  args.push_back(nullptr);
  return args;
}

/// Colour only on a terminal, and not with --benchmark_color=false (what the default main does).
inline bool use_color(int argc, char** argv) {
  bool color = ::isatty(STDOUT_FILENO) != 0;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg = argv[i];
    if (arg == "--benchmark_color=false" || arg == "--benchmark_color=no") color = false;
    if (arg == "--benchmark_color=true" || arg == "--benchmark_color=yes") color = true;
  }
  return color;
}

}  // namespace bench
