// Google Benchmark: ns per dispatch of one event through EventMediator, EventPublisher and
// the peers, at 1, 10 and 100 handlers; register + cancel; dispatch of an event type with no
// handlers; dispatch from 1 and 2 threads at once. After the run it prints one table: every
// case as ns/op and as a ratio to the std::function loop with the same handler count (and
// thread count) measured in the same run.
//
// Every dispatch goes through a [[gnu::noinline]] helper of dispatch_targets.cpp (another
// translation unit), each call of which makes `kBatch` dispatches.

#include "bench_common.hpp"
#include "bench_reporter.hpp"
#include "fixtures.hpp"

#include <benchmark/benchmark.h>

#include <cstdio>
#include <string>
#include <vector>

namespace {

using namespace bench;

constexpr std::int64_t kBatch = 100;     // dispatches per helper call (per benchmark iteration)
constexpr std::int64_t kRegBatch = 10;   // register + cancel pairs per helper call

Fixture& fixture(int handlers) {
  static Fixture f0(0), f1(1), f10(10), f100(100);
  switch (handlers) {
    case 0: return f0;
    case 1: return f1;
    case 10: return f10;
    default: return f100;
  }
}

// ---- dispatch ----------------------------------------------------------------------------

void BM_Mediator(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  spakky::event::IEventDispatcher& dispatcher = f.mediator;
  const spakky::event::AbstractEvent& event = f.ping;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    mediator_dispatch_n(dispatcher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_Publisher(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  spakky::event::IEventPublisher& publisher = f.publisher;
  const spakky::event::AbstractEvent& event = f.ping;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    publisher_publish_n(publisher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_FunctionLoop(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  const FunctionLoop& loop = f.loop;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&f.ping);
    function_loop_n(loop, f.ping, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_Signals2(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(&f.ping);
    signals2_n(f.signals2, f.ping, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_Sigc(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  for (auto _ : state) {
    benchmark::DoNotOptimize(&f.ping);
    sigc_n(f.sigc, f.ping, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// An event type that has no handler (the mediator has handlers for Ping) and has been
// dispatched once already (by the Fixture).
void BM_MediatorNoHandlers(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0)));
  spakky::event::IEventDispatcher& dispatcher = f.mediator;
  const spakky::event::AbstractEvent& event = f.unheard;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    mediator_dispatch_n(dispatcher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// ---- register + cancel, on dispatchers that already have 10 handlers for the type ---------

Fixture& registration_fixture() {
  static Fixture f(10);  // its own: the dispatch fixtures stay untouched
  return f;
}

void BM_MediatorRegisterCancel(benchmark::State& state) {
  spakky::event::IEventConsumer& consumer = registration_fixture().mediator;
  for (auto _ : state) {
    mediator_register_cancel_n(consumer, kRegBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRegBatch);
}

void BM_MediatorRegisterCancelAndWait(benchmark::State& state) {
  spakky::event::IEventConsumer& consumer = registration_fixture().mediator;
  for (auto _ : state) {
    mediator_register_cancel_and_wait_n(consumer, kRegBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRegBatch);
}

void BM_Signals2ConnectDisconnect(benchmark::State& state) {
  Signals2Signal& signal = registration_fixture().signals2;
  for (auto _ : state) {
    signals2_connect_disconnect_n(signal, kRegBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRegBatch);
}

void BM_SigcConnectDisconnect(benchmark::State& state) {
  SigcSignal& signal = registration_fixture().sigc;
  for (auto _ : state) {
    sigc_connect_disconnect_n(signal, kRegBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kRegBatch);
}

// ---- the table -----------------------------------------------------------------------------

struct Row {
  const char* label;
  std::string key;       // the case
  std::string baseline;  // the std::function loop it is compared with ("" for none)
  int handlers;
  int threads;
  std::int64_t batch;  // operations per benchmark iteration
};

std::vector<Row> table_rows() {
  std::vector<Row> rows;
  for (int h : {1, 10, 100}) {
    const std::string hs = std::to_string(h);
    const std::string base = "FunctionLoop/" + hs;
    rows.push_back({"std::function loop (baseline)", base, base, h, 1, kBatch});
    rows.push_back({"EventMediator::dispatch via IEventDispatcher&", "Mediator/" + hs, base, h, 1, kBatch});
    rows.push_back({"EventPublisher::publish via IEventPublisher&", "Publisher/" + hs, base, h, 1, kBatch});
    rows.push_back({"Boost.Signals2 signal", "Signals2/" + hs, base, h, 1, kBatch});
    rows.push_back({"libsigc++-3 signal", "Sigc/" + hs, base, h, 1, kBatch});
  }
  rows.push_back({"std::function loop, empty (baseline)", "FunctionLoop/0", "FunctionLoop/0", 0, 1, kBatch});
  rows.push_back({"EventMediator::dispatch, type with no handlers", "MediatorNoHandlers/10", "FunctionLoop/0", 0, 1,
                  kBatch});
  for (int t : {1, 2}) {
    const std::string ts = "/threads:" + std::to_string(t);
    rows.push_back({"std::function loop, threads at once", "FunctionLoopMT/10" + ts, "FunctionLoopMT/10" + ts, 10, t,
                    kBatch});
    rows.push_back({"EventMediator::dispatch, threads at once", "MediatorMT/10" + ts, "FunctionLoopMT/10" + ts, 10, t,
                    kBatch});
  }
  rows.push_back({"EventMediator register_handler + cancel", "MediatorRegisterCancel", "", 10, 1, kRegBatch});
  rows.push_back({"EventMediator register_handler + cancel_and_wait", "MediatorRegisterCancelAndWait", "", 10, 1,
                  kRegBatch});
  rows.push_back({"Boost.Signals2 connect + disconnect", "Signals2ConnectDisconnect", "", 10, 1, kRegBatch});
  rows.push_back({"libsigc++-3 connect + disconnect", "SigcConnectDisconnect", "", 10, 1, kRegBatch});
  return rows;
}

void print_table(const CapturingReporter& reporter) {
  std::printf("\n");
  std::printf("ns/op = CPU time per operation per thread (median over repetitions); ratio = ns/op / ns/op of\n");
  std::printf("the std::function loop with the same handler and thread count, measured in this run.\n");
  std::printf("Register rows: one handler registered and cancelled on a dispatcher that already has 10.\n\n");
  std::printf("| %-50s | %8s | %7s | %10s | %8s |\n", "case", "handlers", "threads", "ns/op", "ratio");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(52, '-').c_str(), std::string(9, '-').append(":").c_str(),
              std::string(8, '-').append(":").c_str(), std::string(11, '-').append(":").c_str(),
              std::string(9, '-').append(":").c_str());
  for (const Row& row : table_rows()) {
    const auto per_iteration = reporter.ns_per_iteration(row.key);
    if (!per_iteration) continue;  // filtered out
    const double ns = *per_iteration / static_cast<double>(row.batch);
    char ratio[32] = "-";
    if (!row.baseline.empty()) {
      if (const auto base = reporter.ns_per_iteration(row.baseline)) {
        std::snprintf(ratio, sizeof ratio, "%.2fx", ns / (*base / static_cast<double>(kBatch)));
      }
    }
    std::printf("| %-50s | %8d | %7d | %10.2f | %8s |\n", row.label, row.handlers, row.threads, ns, ratio);
  }
}

}  // namespace

int main(int argc, char** argv) {
  // Defaults that make the table steadier on a noisy machine; any of them can be overridden.
  std::vector<std::string> storage;
  std::vector<char*> args = with_default_flags(argc, argv, storage);
  int count = static_cast<int>(args.size()) - 1;

  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  // Build every fixture before anything is measured.
  for (int h : {0, 1, 10, 100}) (void)fixture(h);
  (void)registration_fixture();

  for (int h : {1, 10, 100}) {
    benchmark::RegisterBenchmark("FunctionLoop", BM_FunctionLoop)->Arg(h);
    benchmark::RegisterBenchmark("Mediator", BM_Mediator)->Arg(h);
    benchmark::RegisterBenchmark("Publisher", BM_Publisher)->Arg(h);
    benchmark::RegisterBenchmark("Signals2", BM_Signals2)->Arg(h);
    benchmark::RegisterBenchmark("Sigc", BM_Sigc)->Arg(h);
  }
  benchmark::RegisterBenchmark("FunctionLoop", BM_FunctionLoop)->Arg(0);
  benchmark::RegisterBenchmark("MediatorNoHandlers", BM_MediatorNoHandlers)->Arg(10);
  benchmark::RegisterBenchmark("FunctionLoopMT", BM_FunctionLoop)->Arg(10)->Threads(1)->Threads(2);
  benchmark::RegisterBenchmark("MediatorMT", BM_Mediator)->Arg(10)->Threads(1)->Threads(2);
  benchmark::RegisterBenchmark("MediatorRegisterCancel", BM_MediatorRegisterCancel);
  benchmark::RegisterBenchmark("MediatorRegisterCancelAndWait", BM_MediatorRegisterCancelAndWait);
  benchmark::RegisterBenchmark("Signals2ConnectDisconnect", BM_Signals2ConnectDisconnect);
  benchmark::RegisterBenchmark("SigcConnectDisconnect", BM_SigcConnectDisconnect);

  const bool color = use_color(argc, argv);
  CapturingReporter reporter(color ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_table(reporter);
  benchmark::Shutdown();
  return 0;
}
