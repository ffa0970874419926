// Google Benchmark: ns per event to serialize and deserialize the OrderPlaced with
// JsonEventSerializer (through IEventSerializer&, as a bus and a consumer call it) against
// hand-written nlohmann code producing the same bytes from the same struct. After the run it
// prints one table: ns/event and the ratio to the hand-written code.

#include "bench_reporter.hpp"

#include <spakky/event/detail/timestamp_format.hpp>
#include <spakky/event/detail/timestamp_parse.hpp>
#include <spakky/event/json.hpp>

#include <benchmark/benchmark.h>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

// NOTE: the event types live in a named namespace: an integration event in an anonymous one
// must name itself (its default name differs between compilers).
namespace json_bench {

namespace ev = spakky::event;

struct Address {
  std::string city;
  std::string zip_code;
};

// The dataclass: OrderPlaced(order_id: str, amount: float, quantity: int, express: bool,
// address: Address, tags: list[str], coupon: Optional[str] = None).
struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced() = default;
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  double amount = 0;
  int quantity = 0;
  bool express = false;
  Address address;
  std::vector<std::string> tags;
  std::optional<std::string> coupon;
};

SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, quantity, express, address, tags, coupon)

}  // namespace json_bench

namespace {

namespace ev = spakky::event;
using bench::CapturingReporter;
using json_bench::OrderPlaced;

// ---- the hand-written baseline: what a user writes with nlohmann for the same bytes ----------

using ordered_json = nlohmann::ordered_json;

[[gnu::noinline]] std::string handwritten_serialize(const OrderPlaced& e) {
  ordered_json j;
  j["event_id"] = e.event_id().to_string();
  j["timestamp"] = ev::detail::format_timestamp(e.timestamp());
  j["order_id"] = e.order_id;
  j["amount"] = e.amount;
  j["quantity"] = e.quantity;
  j["express"] = e.express;
  j["address"] = ordered_json{{"city", e.address.city}, {"zip_code", e.address.zip_code}};
  j["tags"] = e.tags;
  j["coupon"] = e.coupon ? ordered_json(*e.coupon) : ordered_json(nullptr);
  return j.dump();
}

[[gnu::noinline]] std::unique_ptr<OrderPlaced> handwritten_deserialize(std::string_view payload) {
  const ordered_json j = ordered_json::parse(payload.data(), payload.data() + payload.size());
  const auto at = ev::detail::parse_timestamp(j.at("timestamp").get_ref<const std::string&>());
  if (!at) throw std::runtime_error("bad timestamp");
  auto e = std::make_unique<OrderPlaced>(ev::EventId::parse(j.at("event_id").get_ref<const std::string&>()), *at);
  e->order_id = j.at("order_id").get<std::string>();
  e->amount = j.at("amount").get<double>();
  e->quantity = j.at("quantity").get<int>();
  e->express = j.at("express").get<bool>();
  const ordered_json& address = j.at("address");
  e->address.city = address.at("city").get<std::string>();
  e->address.zip_code = address.at("zip_code").get<std::string>();
  e->tags = j.at("tags").get<std::vector<std::string>>();
  const ordered_json& coupon = j.at("coupon");
  if (!coupon.is_null()) e->coupon = coupon.get<std::string>();
  return e;
}

// ---- fixtures ---------------------------------------------------------------------------------

const OrderPlaced& sample() {
  static const OrderPlaced event = [] {
    OrderPlaced e(*ev::EventId::try_parse("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f"),
                  ev::Timestamp{std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}} + std::chrono::hours{10} +
                      std::chrono::minutes{50} + std::chrono::seconds{57} + std::chrono::microseconds{123456});
    e.order_id = "o-1";
    e.amount = 12.5;
    e.quantity = 3;
    e.express = true;
    e.address = {"Seoul", "04524"};
    e.tags = {"gift", "\xc3\xa9"};
    return e;
  }();
  return event;
}

const ev::IEventSerializer& serializer() {
  static const ev::JsonEventSerializer instance = [] {
    ev::JsonEventSerializer s;
    s.register_event<OrderPlaced>();
    return s;
  }();
  return instance;
}

const std::string& payload() {
  static const std::string bytes = serializer().serialize(sample());
  return bytes;
}

// ---- benchmarks: one event per iteration --------------------------------------------------------

void BM_Spakky_Serialize(benchmark::State& state) {
  const ev::IEventSerializer& s = serializer();
  const ev::AbstractIntegrationEvent& event = sample();
  for (auto _ : state) {
    std::string out = s.serialize(event);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Handwritten_Serialize(benchmark::State& state) {
  const OrderPlaced& event = sample();
  for (auto _ : state) {
    std::string out = handwritten_serialize(event);
    benchmark::DoNotOptimize(out.data());
  }
}

void BM_Spakky_Deserialize(benchmark::State& state) {
  const ev::IEventSerializer& s = serializer();
  const std::string& bytes = payload();
  for (auto _ : state) {
    auto event = s.deserialize("OrderPlaced", bytes);
    benchmark::DoNotOptimize(event.get());
  }
}

void BM_Handwritten_Deserialize(benchmark::State& state) {
  const std::string& bytes = payload();
  for (auto _ : state) {
    auto event = handwritten_deserialize(bytes);
    benchmark::DoNotOptimize(event.get());
  }
}

void BM_Spakky_RoundTrip(benchmark::State& state) {
  const ev::IEventSerializer& s = serializer();
  const ev::AbstractIntegrationEvent& event = sample();
  for (auto _ : state) {
    const std::string out = s.serialize(event);
    auto back = s.deserialize("OrderPlaced", out);
    benchmark::DoNotOptimize(back.get());
  }
}

void BM_Handwritten_RoundTrip(benchmark::State& state) {
  const OrderPlaced& event = sample();
  for (auto _ : state) {
    const std::string out = handwritten_serialize(event);
    auto back = handwritten_deserialize(out);
    benchmark::DoNotOptimize(back.get());
  }
}

struct Row {
  const char* label;
  const char* key;
  const char* baseline;
};

void print_table(const CapturingReporter& reporter) {
  const Row rows[] = {
      {"serialize: hand-written nlohmann (baseline)", "Handwritten_Serialize", "Handwritten_Serialize"},
      {"serialize: JsonEventSerializer", "Spakky_Serialize", "Handwritten_Serialize"},
      {"deserialize: hand-written nlohmann (baseline)", "Handwritten_Deserialize", "Handwritten_Deserialize"},
      {"deserialize: JsonEventSerializer", "Spakky_Deserialize", "Handwritten_Deserialize"},
      {"serialize+deserialize: hand-written (baseline)", "Handwritten_RoundTrip", "Handwritten_RoundTrip"},
      {"serialize+deserialize: JsonEventSerializer", "Spakky_RoundTrip", "Handwritten_RoundTrip"},
  };
  std::printf("\nns/event = CPU time per event (median over repetitions); ratio = ns/event / ns/event of the\n");
  std::printf("hand-written nlohmann code for the same struct and bytes (%zu-byte payload), in this run.\n\n",
              payload().size());
  std::printf("| %-48s | %10s | %8s |\n", "case", "ns/event", "ratio");
  std::printf("|%s|%s|%s|\n", std::string(50, '-').c_str(), std::string(11, '-').append(":").c_str(),
              std::string(9, '-').append(":").c_str());
  for (const Row& row : rows) {
    char ns_text[32] = "-";
    char ratio[32] = "-";
    if (const auto ns = reporter.ns_per_iteration(row.key)) {
      std::snprintf(ns_text, sizeof ns_text, "%.1f", *ns);
      if (const auto base = reporter.ns_per_iteration(row.baseline)) {
        std::snprintf(ratio, sizeof ratio, "%.2fx", *ns / *base);
      }
    }
    std::printf("| %-48s | %10s | %8s |\n", row.label, ns_text, ratio);
  }
}

}  // namespace

int main(int argc, char** argv) {
  std::vector<std::string> storage;
  std::vector<char*> args = bench::with_default_flags(argc, argv, storage);
  int count = static_cast<int>(args.size()) - 1;
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  // Both sides write the same bytes, and read them back to the same event.
  if (handwritten_serialize(sample()) != payload()) {
    std::fprintf(stderr, "json_bench: the hand-written code does not write the serializer's bytes\n");
    return 1;
  }
  if (!(*handwritten_deserialize(payload()) == sample()) || !(*serializer().deserialize("OrderPlaced", payload()) == sample())) {
    std::fprintf(stderr, "json_bench: a deserializer lost the id or the timestamp\n");
    return 1;
  }

  benchmark::RegisterBenchmark("Handwritten_Serialize", BM_Handwritten_Serialize);
  benchmark::RegisterBenchmark("Spakky_Serialize", BM_Spakky_Serialize);
  benchmark::RegisterBenchmark("Handwritten_Deserialize", BM_Handwritten_Deserialize);
  benchmark::RegisterBenchmark("Spakky_Deserialize", BM_Spakky_Deserialize);
  benchmark::RegisterBenchmark("Handwritten_RoundTrip", BM_Handwritten_RoundTrip);
  benchmark::RegisterBenchmark("Spakky_RoundTrip", BM_Spakky_RoundTrip);

  CapturingReporter reporter(bench::use_color(argc, argv) ? benchmark::ConsoleReporter::OO_Color
                                                          : benchmark::ConsoleReporter::OO_None);
  benchmark::RunSpecifiedBenchmarks(&reporter);
  print_table(reporter);
  benchmark::Shutdown();
  return 0;
}
