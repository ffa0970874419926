// Google Benchmark: asynchronous dispatch (AsyncEventMediator<Task<>>) against the
// synchronous EventMediator, at 1, 10 and 100 handlers, and the heap allocations of one
// asynchronous dispatch. After the run it prints one table: ns/op, the ratio to the
// synchronous mediator with the same handler count (same run), and the allocations and bytes
// allocated per dispatch; then the size of every allocation of one dispatch at 10 handlers.
//
// The handlers do the same work in both: add the event's int to a sink. The asynchronous one
// is a Task<> coroutine that completes without suspending (AddToSinkAsync). Every dispatch
// goes through a [[gnu::noinline]] helper of another translation unit (dispatch_targets.cpp
// for the synchronous mediator, async_targets.cpp for the asynchronous one), each call of
// which makes `kBatch` dispatches.
//
// This program replaces the global operator new to count allocations (count and bytes; a
// relaxed atomic add each, on every column alike). The counts are taken outside the timed
// runs, as callgrind.sh does: (allocations of 2000 dispatches - of 1000) / 1000, so the
// helper's own set-up cancels out.

#include "async_common.hpp"
#include "bench_common.hpp"
#include "bench_reporter.hpp"
#include "fixtures.hpp"

#include <benchmark/benchmark.h>

#include <atomic>
#include <cstdio>
#include <cstdlib>
#include <map>
#include <new>
#include <string>
#include <vector>

// ---- counting operator new -----------------------------------------------------------------

// NOTE: g++ 12 sees our malloc/free pairs through inlining and misreads them as mismatched.
#if defined(__GNUC__) && !defined(__clang__)
#pragma GCC diagnostic ignored "-Wmismatched-new-delete"
#endif

namespace {

std::atomic<std::int64_t> allocation_count{0};
std::atomic<std::int64_t> allocation_bytes{0};

// The sizes of the allocations made while `recording` (single-threaded use only).
bool recording = false;
std::size_t recorded_sizes[1024];
std::size_t recorded = 0;

void* counted_malloc(std::size_t size) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  allocation_bytes.fetch_add(static_cast<std::int64_t>(size), std::memory_order_relaxed);
  if (recording && recorded < std::size(recorded_sizes)) recorded_sizes[recorded++] = size;
  if (void* p = std::malloc(size == 0 ? 1 : size)) return p;
  throw std::bad_alloc();
}

void* counted_aligned(std::size_t size, std::align_val_t align) {
  allocation_count.fetch_add(1, std::memory_order_relaxed);
  allocation_bytes.fetch_add(static_cast<std::int64_t>(size), std::memory_order_relaxed);
  const auto a = static_cast<std::size_t>(align);
  if (void* p = std::aligned_alloc(a, (size + a - 1) & ~(a - 1))) return p;
  throw std::bad_alloc();
}

}  // namespace

void* operator new(std::size_t size) { return counted_malloc(size); }
void* operator new[](std::size_t size) { return counted_malloc(size); }
void* operator new(std::size_t size, std::align_val_t align) { return counted_aligned(size, align); }
void* operator new[](std::size_t size, std::align_val_t align) { return counted_aligned(size, align); }
void operator delete(void* p) noexcept { std::free(p); }
void operator delete(void* p, std::size_t) noexcept { std::free(p); }
void operator delete[](void* p) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t) noexcept { std::free(p); }
void operator delete(void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete(void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::align_val_t) noexcept { std::free(p); }
void operator delete[](void* p, std::size_t, std::align_val_t) noexcept { std::free(p); }

namespace {

using namespace bench;
namespace ev = spakky::event;

constexpr std::int64_t kBatch = 100;  // dispatches per helper call (per benchmark iteration)

/// The synchronous mediator (in Fixture, with AddToSink handlers) and the asynchronous one
/// (AsyncFixture, AddToSinkAsync handlers), with the same handler count.
struct Fixtures {
  explicit Fixtures(int handlers) : sync(handlers), async(handlers) {}
  Fixture sync;
  AsyncFixture async;
};

Fixtures& fixture(int handlers) {
  static Fixtures f1(1), f10(10), f100(100);
  switch (handlers) {
    case 1: return f1;
    case 10: return f10;
    default: return f100;
  }
}

// ---- the cases -----------------------------------------------------------------------------

void BM_SyncMediator(benchmark::State& state) {
  Fixture& f = fixture(static_cast<int>(state.range(0))).sync;
  ev::IEventDispatcher& dispatcher = f.mediator;
  const ev::AbstractEvent& event = f.ping;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    mediator_dispatch_n(dispatcher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_AsyncMediator(benchmark::State& state) {
  AsyncFixture& f = fixture(static_cast<int>(state.range(0))).async;
  AsyncDispatcher& dispatcher = f.mediator;
  const ev::AbstractEvent& event = f.ping;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    async_dispatch_n(dispatcher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

void BM_AsyncSyncWait(benchmark::State& state) {
  AsyncFixture& f = fixture(static_cast<int>(state.range(0))).async;
  AsyncDispatcher& dispatcher = f.mediator;
  const ev::AbstractEvent& event = f.ping;
  for (auto _ : state) {
    benchmark::DoNotOptimize(&event);
    async_sync_wait_n(dispatcher, event, kBatch);
    benchmark::ClobberMemory();
  }
  state.SetItemsProcessed(state.iterations() * kBatch);
}

// ---- allocations ---------------------------------------------------------------------------

struct PerDispatch {
  double allocations;
  double bytes;
};

/// Allocations per dispatch of `run(n)`: (count of n = 2000) - (count of n = 1000), / 1000.
template <class Run>
PerDispatch allocations_per_dispatch(Run run) {
  const std::int64_t c0 = allocation_count.load(), b0 = allocation_bytes.load();
  run(1000);
  const std::int64_t c1 = allocation_count.load(), b1 = allocation_bytes.load();
  run(2000);
  const std::int64_t c2 = allocation_count.load(), b2 = allocation_bytes.load();
  return {static_cast<double>((c2 - c1) - (c1 - c0)) / 1000.0, static_cast<double>((b2 - b1) - (b1 - b0)) / 1000.0};
}

struct Row {
  const char* label;
  std::string key;       // the case
  std::string baseline;  // the synchronous mediator with the same handler count
  int handlers;
  PerDispatch allocations;
};

std::vector<Row> table_rows() {
  std::vector<Row> rows;
  for (int h : {1, 10, 100}) {
    Fixture& s = fixture(h).sync;
    AsyncFixture& a = fixture(h).async;
    const std::string hs = std::to_string(h);
    const std::string base = "SyncMediator/" + hs;
    rows.push_back({"EventMediator::dispatch (baseline)", base, base, h,
                    allocations_per_dispatch([&](std::int64_t n) { mediator_dispatch_n(s.mediator, s.ping, n); })});
    rows.push_back({"AsyncEventMediator<Task<>>: co_await dispatch", "AsyncMediator/" + hs, base, h,
                    allocations_per_dispatch([&](std::int64_t n) { async_dispatch_n(a.mediator, a.ping, n); })});
    rows.push_back({"AsyncEventMediator<Task<>>: sync_wait(dispatch)", "AsyncSyncWait/" + hs, base, h,
                    allocations_per_dispatch([&](std::int64_t n) { async_sync_wait_n(a.mediator, a.ping, n); })});
  }
  return rows;
}

void print_table(const CapturingReporter& reporter) {
  std::printf("\n");
  std::printf("ns/op = CPU time per dispatch (median over repetitions); ratio = ns/op / ns/op of the\n");
  std::printf("synchronous EventMediator with the same handler count, measured in this run.\n");
  std::printf("allocs/op, bytes/op = heap allocations (operator new calls) and bytes per dispatch,\n");
  std::printf("(count of 2000 dispatches - count of 1000) / 1000, outside the timed runs.\n\n");
  std::printf("| %-48s | %8s | %10s | %8s | %9s | %9s |\n", "case", "handlers", "ns/op", "ratio", "allocs/op",
              "bytes/op");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(50, '-').c_str(), std::string(9, '-').append(":").c_str(),
              std::string(11, '-').append(":").c_str(), std::string(9, '-').append(":").c_str(),
              std::string(10, '-').append(":").c_str(), std::string(10, '-').append(":").c_str());
  for (const Row& row : table_rows()) {
    char ns_text[32] = "-";
    char ratio[32] = "-";
    if (const auto per_iteration = reporter.ns_per_iteration(row.key)) {
      const double ns = *per_iteration / static_cast<double>(kBatch);
      std::snprintf(ns_text, sizeof ns_text, "%.2f", ns);
      if (const auto base = reporter.ns_per_iteration(row.baseline)) {
        std::snprintf(ratio, sizeof ratio, "%.2fx", ns / (*base / static_cast<double>(kBatch)));
      }
    }
    std::printf("| %-48s | %8d | %10s | %8s | %9.2f | %9.1f |\n", row.label, row.handlers, ns_text, ratio,
                row.allocations.allocations, row.allocations.bytes);
  }
}

/// Prints the size of every allocation one `sync_wait(dispatch)` makes at 10 handlers.
void print_allocation_sizes() {
  AsyncFixture& f = fixture(10).async;
  recorded = 0;
  recording = true;
  async_sync_wait_n(f.mediator, f.ping, 1);
  recording = false;
  std::map<std::size_t, int> by_size;
  for (std::size_t i = 0; i < recorded; ++i) ++by_size[recorded_sizes[i]];
  std::printf("\nAllocations of one sync_wait(dispatch) at 10 handlers (%zu in all), by size:", recorded);
  for (const auto& [size, count] : by_size) std::printf(" %d x %zu B", count, size);
  std::printf("\n");
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
  for (int h : {1, 10, 100}) (void)fixture(h);

  for (int h : {1, 10, 100}) {
    benchmark::RegisterBenchmark("SyncMediator", BM_SyncMediator)->Arg(h);
    benchmark::RegisterBenchmark("AsyncMediator", BM_AsyncMediator)->Arg(h);
    benchmark::RegisterBenchmark("AsyncSyncWait", BM_AsyncSyncWait)->Arg(h);
  }

  const bool color = use_color(argc, argv);
  CapturingReporter reporter(color ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_table(reporter);
  print_allocation_sizes();
  benchmark::Shutdown();
  return 0;
}
