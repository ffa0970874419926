// RabbitMQ: send throughput of DirectEventBus + JsonEventSerializer + RabbitMqEventTransport
// against a plain librabbitmq-c publish loop of the same bytes to the same broker (unconfirmed
// and with one synchronous confirm per message), and of the async transport with many
// confirms in flight; then publish -> broker -> consumer -> handler end to end (msg/s, p50 and
// p99 latency). Needs a running broker: bench/rabbitmq_bench.sh starts one.
//
// Every publish goes to a durable topic exchange with one durable queue bound (persistent
// messages, the same properties and headers on both sides); the queue is purged before each
// measurement. Times are wall-clock (the work is I/O): msg/s = messages / real time.

#include "bench_reporter.hpp"

#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <benchmark/benchmark.h>

#include <asio.hpp>

#include <sys/resource.h>

#include <algorithm>
#include <atomic>
#include <chrono>
#include <coroutine>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <latch>
#include <map>
#include <mutex>
#include <optional>
#include <stdexcept>
#include <string>
#include <thread>
#include <vector>

// NOTE: the event types live in a named namespace: an integration event in an anonymous one
// must name itself (its default name differs between compilers).
namespace rabbitmq_bench {

namespace ev = spakky::event;

struct Address {
  std::string city;
  std::string zip_code;
};

/// The OrderPlaced: what every publishing case sends.
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

/// What the end-to-end case sends: a sequence number and when it was sent.
struct Probe final : ev::AbstractIntegrationEvent {
  Probe() = default;
  Probe(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::int64_t seq = 0;
  std::int64_t sent_ns = 0;  // steady_clock
};

SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, quantity, express, address, tags, coupon)
SPAKKY_EVENT_JSON_FIELDS(Probe, seq, sent_ns)

}  // namespace rabbitmq_bench

namespace {

namespace ev = spakky::event;
namespace amqp = spakky::event::detail::rabbitmq;
using rabbitmq_bench::OrderPlaced;
using rabbitmq_bench::Probe;
using clock_type = std::chrono::steady_clock;

constexpr const char* traceparent = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";

std::string& broker_url() {
  static std::string url;
  return url;
}

const ev::JsonEventSerializer& serializer() {
  static const ev::JsonEventSerializer instance = [] {
    ev::JsonEventSerializer s;
    s.register_event<OrderPlaced>();
    s.register_event<Probe>();
    return s;
  }();
  return instance;
}

const OrderPlaced& order() {
  static const OrderPlaced event = [] {
    OrderPlaced e;
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

/// The bench's exchange and queue, and a connection to purge the queue between measurements.
struct Topology {
  Topology() : connection(settings()) {
    connection.declare_exchange(exchange, "topic");
    connection.declare_queue(queue);
    connection.bind_queue(queue, exchange, "OrderPlaced");
  }
  ~Topology() {
    amqp_queue_delete(connection.state(), amqp::Connection::channel, amqp::bytes(queue), 0, 0);
    amqp_exchange_delete(connection.state(), amqp::Connection::channel, amqp::bytes(exchange), 0);
  }
  void purge() {
    amqp_queue_purge(connection.state(), amqp::Connection::channel, amqp::bytes(queue));
    amqp_maybe_release_buffers(connection.state());
  }
  static amqp::ConnectSettings settings() {
    amqp::ConnectSettings s;
    s.url = ev::AmqpUrl::parse(broker_url());
    s.connection_name = "rabbitmq_bench admin";
    return s;
  }
  std::string exchange = "spakky.bench." + ev::EventId::generate().to_string().substr(0, 8);
  std::string queue = exchange + ".queue";
  amqp::Connection connection;
};

Topology& topology() {
  static Topology instance;
  return instance;
}

ev::RabbitMqTransportOptions transport_options(ev::RabbitMqDeliveryMode mode) {
  return {.url = broker_url(), .exchange = topology().exchange, .delivery_mode = mode};
}

void add_traceparent(ev::DirectEventBus& bus) {
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& h) { h["traceparent"] = traceparent; });
}

// ---- raw librabbitmq-c: the same bytes, properties and headers ----------------------------

void raw_publish(benchmark::State& state, bool confirmed) {
  topology().purge();
  amqp::ConnectSettings settings = Topology::settings();
  settings.connection_name = "rabbitmq_bench raw";
  amqp::Connection connection(settings);
  if (confirmed) connection.select_confirms();
  const std::string payload = serializer().serialize(order());
  const std::string exchange = topology().exchange;
  amqp_table_entry_t header{};
  header.key = amqp_cstring_bytes("traceparent");
  header.value.kind = AMQP_FIELD_KIND_UTF8;
  header.value.value.bytes = amqp_cstring_bytes(traceparent);
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG |
                      AMQP_BASIC_HEADERS_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  properties.type = amqp_cstring_bytes("OrderPlaced");
  properties.headers = amqp_table_t{1, &header};
  const amqp_bytes_t exchange_bytes = amqp::bytes(exchange);
  const amqp_bytes_t key = amqp_cstring_bytes("OrderPlaced");
  const amqp_bytes_t body = amqp::bytes(payload);

  for (auto _ : state) {
    if (amqp_basic_publish(connection.state(), 1, exchange_bytes, key, 0, 0, &properties, body) != AMQP_STATUS_OK) {
      state.SkipWithError("publish failed");
      break;
    }
    if (confirmed) {
      amqp_frame_t frame;
      for (;;) {
        if (amqp_simple_wait_frame(connection.state(), &frame) != AMQP_STATUS_OK) {
          state.SkipWithError("connection lost");
          return;
        }
        if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) break;
      }
      amqp_maybe_release_buffers(connection.state());
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void Raw_Unconfirmed(benchmark::State& state) { raw_publish(state, false); }
void Raw_Confirmed(benchmark::State& state) { raw_publish(state, true); }

/// For reference: the raw loop in confirm mode, publishing a batch back to back and then
/// reading the confirms (what the async transport does, without any of its machinery).
void Raw_Pipelined_Confirmed(benchmark::State& state) {
  topology().purge();
  const auto batch = static_cast<std::uint64_t>(state.range(0));
  amqp::ConnectSettings settings = Topology::settings();
  settings.connection_name = "rabbitmq_bench raw pipelined";
  amqp::Connection connection(settings);
  connection.select_confirms();
  const std::string payload = serializer().serialize(order());
  const std::string exchange = topology().exchange;
  amqp_table_entry_t header{};
  header.key = amqp_cstring_bytes("traceparent");
  header.value.kind = AMQP_FIELD_KIND_UTF8;
  header.value.value.bytes = amqp_cstring_bytes(traceparent);
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG |
                      AMQP_BASIC_HEADERS_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  properties.type = amqp_cstring_bytes("OrderPlaced");
  properties.headers = amqp_table_t{1, &header};
  std::uint64_t published = 0;
  std::uint64_t confirmed = 0;
  for (auto _ : state) {
    for (std::uint64_t i = 0; i < batch; ++i) {
      if (amqp_basic_publish(connection.state(), 1, amqp::bytes(exchange), amqp_cstring_bytes("OrderPlaced"), 0, 0,
                             &properties, amqp::bytes(payload)) != AMQP_STATUS_OK) {
        state.SkipWithError("publish failed");
        return;
      }
      ++published;
    }
    while (confirmed < published) {
      amqp_frame_t frame;
      if (amqp_simple_wait_frame(connection.state(), &frame) != AMQP_STATUS_OK) {
        state.SkipWithError("connection lost");
        return;
      }
      if (frame.frame_type == AMQP_FRAME_METHOD && frame.payload.method.id == AMQP_BASIC_ACK_METHOD) {
        const auto* ack = static_cast<const amqp_basic_ack_t*>(frame.payload.method.decoded);
        if (ack->multiple || ack->delivery_tag == confirmed + 1) confirmed = std::max(confirmed, ack->delivery_tag);
      }
      amqp_maybe_release_buffers(connection.state());
    }
  }
  state.SetItemsProcessed(state.iterations() * static_cast<std::int64_t>(batch));
}

// ---- spakky: DirectEventBus + JsonEventSerializer + RabbitMqEventTransport -----------------

void bus_send(benchmark::State& state, ev::RabbitMqDeliveryMode mode) {
  topology().purge();
  ev::RabbitMqEventTransport transport(transport_options(mode));
  ev::DirectEventBus bus(transport, serializer());
  add_traceparent(bus);
  transport.connect();
  const OrderPlaced& event = order();
  for (auto _ : state) {
    try {
      bus.send(event);
    } catch (const std::exception& e) {
      state.SkipWithError(e.what());
      break;
    }
  }
  state.SetItemsProcessed(state.iterations());
}

void Spakky_Unconfirmed(benchmark::State& state) { bus_send(state, ev::RabbitMqDeliveryMode::unconfirmed); }
void Spakky_Confirmed(benchmark::State& state) { bus_send(state, ev::RabbitMqDeliveryMode::confirmed); }

// ---- the async transport: a batch of sends in flight per iteration --------------------------

/// A coroutine nobody awaits: starts at once, counts down when its send is done.
struct Detached {
  struct promise_type {
    Detached get_return_object() noexcept { return {}; }
    std::suspend_never initial_suspend() const noexcept { return {}; }
    std::suspend_never final_suspend() const noexcept { return {}; }
    void return_void() noexcept {}
    void unhandled_exception() noexcept { std::terminate(); }
  };
};

Detached send_one(ev::AsyncDirectEventBus<>& bus, const OrderPlaced& event, std::latch& done,
                  std::atomic<int>& failures) {
  try {
    co_await bus.send(event);
  } catch (...) {
    failures.fetch_add(1);
  }
  done.count_down();
}

void Spakky_Async_Confirmed(benchmark::State& state) {
  topology().purge();
  const auto batch = static_cast<std::ptrdiff_t>(state.range(0));
  ev::AsyncRabbitMqEventTransport transport(transport_options(ev::RabbitMqDeliveryMode::confirmed));
  ev::AsyncDirectEventBus<> bus(transport, serializer());
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& h) { h["traceparent"] = traceparent; });
  ev::sync_wait(bus.send(order()));  // connect first
  std::atomic<int> failures{0};
  for (auto _ : state) {
    std::latch done(batch);
    for (std::ptrdiff_t i = 0; i < batch; ++i) send_one(bus, order(), done, failures);
    done.wait();
  }
  if (failures.load() != 0) state.SkipWithError("some sends failed");
  state.SetItemsProcessed(state.iterations() * batch);
}

BENCHMARK(Raw_Unconfirmed)->UseRealTime();
BENCHMARK(Spakky_Unconfirmed)->UseRealTime();
BENCHMARK(Raw_Confirmed)->UseRealTime();
BENCHMARK(Spakky_Confirmed)->UseRealTime();
BENCHMARK(Raw_Pipelined_Confirmed)->Arg(1000)->UseRealTime();
BENCHMARK(Spakky_Async_Confirmed)->Arg(1000)->UseRealTime();

// ---- the table ---------------------------------------------------------------------------------

/// Keeps the median items_per_second of every case.
class RateReporter final : public benchmark::ConsoleReporter {
public:
  explicit RateReporter(OutputOptions options) : ConsoleReporter(options) {}
  void ReportRuns(const std::vector<Run>& runs) override {
    for (const Run& run : runs) {
      if (run.error_occurred) continue;
      const auto found = run.counters.find("items_per_second");
      if (found == run.counters.end()) continue;
      const std::string key = bench::key_of(run);
      if (run.run_type == Run::RT_Aggregate) {
        if (run.aggregate_name == "median") medians_[key] = found->second.value;
      } else {
        samples_[key].push_back(found->second.value);
      }
    }
    ConsoleReporter::ReportRuns(runs);
  }
  [[nodiscard]] std::optional<double> rate(const std::string& key) const {
    if (auto it = medians_.find(key); it != medians_.end()) return it->second;
    auto it = samples_.find(key);
    if (it == samples_.end() || it->second.empty()) return std::nullopt;
    std::vector<double> v = it->second;
    std::sort(v.begin(), v.end());
    return v[v.size() / 2];
  }

private:
  std::map<std::string, std::vector<double>> samples_;
  std::map<std::string, double> medians_;
};

void print_rates(const RateReporter& reporter) {
  struct Row {
    const char* label;
    const char* key;
    const char* base;  // ratio against this case
    const char* target;
  };
  const Row rows[] = {
      {"raw librabbitmq-c publish loop, unconfirmed", "Raw_Unconfirmed", "Raw_Unconfirmed", ""},
      {"DirectEventBus+Json+RabbitMqEventTransport, unconfirmed", "Spakky_Unconfirmed", "Raw_Unconfirmed", ">= 0.90x"},
      {"raw publish + wait for its confirm", "Raw_Confirmed", "Raw_Confirmed", ""},
      {"DirectEventBus+Json+RabbitMqEventTransport, confirmed", "Spakky_Confirmed", "Raw_Confirmed", ""},
      {"raw publish, 1000 confirms in flight", "Raw_Pipelined_Confirmed/1000", "Raw_Confirmed", ""},
      {"AsyncDirectEventBus+Json+AsyncRabbitMqEventTransport, confirmed", "Spakky_Async_Confirmed/1000",
       "Spakky_Confirmed", ">= 3x sync"},
      {"  (the same, against the raw loop with 1000 confirms in flight)", "Spakky_Async_Confirmed/1000",
       "Raw_Pipelined_Confirmed/1000", ""},
  };
  std::printf("\nmsg/s = messages / wall-clock time (median over repetitions); ratio = msg/s / msg/s of the\n");
  std::printf("case named in `vs`, measured in this run. Persistent messages, one durable queue bound.\n\n");
  std::printf("| %-62s | %10s | %-18s | %7s | %-10s |\n", "case", "msg/s", "vs", "ratio", "target");
  std::printf("|%s|%s|%s|%s|%s|\n", std::string(64, '-').c_str(), std::string(12, '-').c_str(),
              std::string(20, '-').c_str(), std::string(9, '-').c_str(), std::string(12, '-').c_str());
  for (const Row& row : rows) {
    const auto rate = reporter.rate(row.key);
    const auto base = reporter.rate(row.base);
    if (!rate) continue;
    const std::string base_name = std::string(row.base).substr(0, std::string(row.base).find('/'));
    if (base && *base > 0) {
      std::printf("| %-62s | %10.0f | %-18s | %6.2fx | %-10s |\n", row.label, *rate, base_name.c_str(), *rate / *base,
                  row.target);
    } else {
      std::printf("| %-62s | %10.0f | %-18s | %7s | %-10s |\n", row.label, *rate, "-", "-", row.target);
    }
  }
}

// ---- end to end: publish -> broker -> consumer -> handler -----------------------------------

struct EndToEnd {
  double rate = 0;  // handled messages / (first send .. last handled)
  double p50_us = 0;
  double p99_us = 0;
  double max_us = 0;
  std::size_t count = 0;
};

/// Sends `count` Probes through a bus over `transport`, `per_second` of them a second (0: as
/// fast as the transport takes them), and measures what a RabbitMqEventConsumer's handler sees.
EndToEnd end_to_end(ev::IEventTransport& transport, const std::string& exchange, std::size_t count, double per_second) {
  const std::string queue = exchange + ".e2e." + ev::EventId::generate().to_string().substr(0, 8);
  ev::RabbitMqEventConsumer consumer(serializer(), {.url = broker_url(), .exchange = exchange, .queue = queue,
                                                    .prefetch = 512});
  std::vector<std::int64_t> latencies(count, -1);
  std::atomic<std::size_t> handled{0};
  std::atomic<std::int64_t> last_ns{0};
  auto subscription = consumer.register_handler([&](const Probe& probe) {
    const std::int64_t now = clock_type::now().time_since_epoch().count();
    const auto seq = static_cast<std::size_t>(probe.seq);
    if (seq < latencies.size() && latencies[seq] < 0) {
      latencies[seq] = now - probe.sent_ns;
      last_ns.store(now);
      handled.fetch_add(1);
    }
  });
  consumer.start();
  if (!consumer.wait_until_consuming(std::chrono::seconds(30))) throw std::runtime_error("the consumer did not start");

  ev::DirectEventBus bus(transport, serializer());
  add_traceparent(bus);
  const auto start = clock_type::now();
  for (std::size_t i = 0; i < count; ++i) {
    if (per_second > 0) {
      const auto due = start + std::chrono::nanoseconds(static_cast<std::int64_t>(static_cast<double>(i) * 1e9 / per_second));
      std::this_thread::sleep_until(due);
    }
    Probe probe;
    probe.seq = static_cast<std::int64_t>(i);
    probe.sent_ns = clock_type::now().time_since_epoch().count();
    bus.send(probe);
  }
  const auto deadline = clock_type::now() + std::chrono::seconds(120);
  while (handled.load() < count && clock_type::now() < deadline) std::this_thread::sleep_for(std::chrono::milliseconds(5));
  consumer.stop();

  EndToEnd result;
  result.count = handled.load();
  const double seconds =
      static_cast<double>(last_ns.load() - start.time_since_epoch().count()) / 1e9;
  result.rate = seconds > 0 ? static_cast<double>(result.count) / seconds : 0;
  std::vector<std::int64_t> seen;
  for (const auto l : latencies) {
    if (l >= 0) seen.push_back(l);
  }
  std::sort(seen.begin(), seen.end());
  if (!seen.empty()) {
    result.p50_us = static_cast<double>(seen[seen.size() / 2]) / 1e3;
    result.p99_us = static_cast<double>(seen[std::min(seen.size() - 1, seen.size() * 99 / 100)]) / 1e3;
    result.max_us = static_cast<double>(seen.back()) / 1e3;
  }
  {
    amqp_queue_delete(topology().connection.state(), amqp::Connection::channel, amqp::bytes(queue), 0, 0);
    amqp_queue_delete(topology().connection.state(), amqp::Connection::channel,
                      amqp::bytes(queue + ".dead-letter"), 0, 0);
    amqp_maybe_release_buffers(topology().connection.state());
  }
  return result;
}

void print_end_to_end() {
  struct Case {
    const char* label;
    ev::RabbitMqDeliveryMode mode;
    std::size_t count;
    double per_second;
  };
  const std::size_t saturated = std::getenv("SPAKKY_BENCH_E2E_COUNT") ? std::strtoul(std::getenv("SPAKKY_BENCH_E2E_COUNT"), nullptr, 10) : 50000;
  const Case cases[] = {
      {"as fast as possible, unconfirmed sends", ev::RabbitMqDeliveryMode::unconfirmed, saturated, 0},
      {"as fast as possible, confirmed sends", ev::RabbitMqDeliveryMode::confirmed, 2000, 0},
      {"paced 1000 msg/s, unconfirmed sends", ev::RabbitMqDeliveryMode::unconfirmed, 5000, 1000},
      {"paced 100 msg/s, confirmed sends", ev::RabbitMqDeliveryMode::confirmed, 500, 100},
  };
  std::printf("\nEnd to end: DirectEventBus + JsonEventSerializer + RabbitMqEventTransport -> broker (durable\n");
  std::printf("queue) -> RabbitMqEventConsumer (prefetch 512, ack per message) -> handler. msg/s = handled /\n");
  std::printf("(first send .. last handled); latency = handler time - send time (steady clock, same process).\n");
  std::printf("Unpaced, the sender outruns the consumer and latency is mostly time spent queued.\n\n");
  std::printf("| %-40s | %8s | %10s | %10s | %10s | %10s |\n", "sender", "messages", "msg/s", "p50 us", "p99 us",
              "max us");
  std::printf("|%s|%s|%s|%s|%s|%s|\n", std::string(42, '-').c_str(), std::string(10, '-').c_str(),
              std::string(12, '-').c_str(), std::string(12, '-').c_str(), std::string(12, '-').c_str(),
              std::string(12, '-').c_str());
  for (const Case& c : cases) {
    ev::RabbitMqEventTransport transport(transport_options(c.mode));
    const EndToEnd r = end_to_end(transport, topology().exchange, c.count, c.per_second);
    std::printf("| %-40s | %8zu | %10.0f | %10.0f | %10.0f | %10.0f |\n", c.label, r.count, r.rate, r.p50_us, r.p99_us,
                r.max_us);
    if (r.count != c.count) std::printf("  (only %zu of %zu arrived within the deadline)\n", r.count, c.count);
  }
}

// ---- consuming: decode + dispatch + ack, against a raw consume-and-ack loop ---------------

/// Fills `queue` with `count` copies of the OrderPlaced message (the same bytes, properties
/// and header as the publishing cases) and waits until the broker has them all.
void fill(const std::string& queue, std::size_t count) {
  amqp::ConnectSettings settings = Topology::settings();
  settings.connection_name = "rabbitmq_bench filler";
  amqp::Connection connection(settings);
  const std::string payload = serializer().serialize(order());
  amqp_table_entry_t header{};
  header.key = amqp_cstring_bytes("traceparent");
  header.value.kind = AMQP_FIELD_KIND_UTF8;
  header.value.value.bytes = amqp_cstring_bytes(traceparent);
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG |
                      AMQP_BASIC_HEADERS_FLAG;
  properties.content_type = amqp_cstring_bytes("application/json");
  properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
  properties.type = amqp_cstring_bytes("OrderPlaced");
  properties.headers = amqp_table_t{1, &header};
  for (std::size_t i = 0; i < count; ++i) connection.publish("", queue, properties, payload);
  for (;;) {
    const amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(connection.state(), amqp::Connection::channel, amqp::bytes(queue), 1, 0, 0, 0, amqp_empty_table);
    if (ok != nullptr && ok->message_count >= count) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
}

/// CPU time of this process so far (all threads), in microseconds.
double cpu_us() {
  rusage usage{};
  getrusage(RUSAGE_SELF, &usage);
  return static_cast<double>(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) * 1e6 +
         static_cast<double>(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec);
}

/// msg/s of a plain librabbitmq-c loop: basic.qos(prefetch), basic.consume, then
/// amqp_consume_message + basic.ack per message, until `count` are acked.
double raw_consume(const std::string& queue, std::size_t count, std::uint16_t prefetch) {
  amqp::ConnectSettings settings = Topology::settings();
  settings.connection_name = "rabbitmq_bench raw consumer";
  const auto start = clock_type::now();
  amqp::Connection connection(settings);
  connection.set_prefetch(prefetch);
  connection.consume(queue);
  for (std::size_t done = 0; done < count;) {
    amqp_envelope_t envelope;
    amqp_maybe_release_buffers(connection.state());
    const amqp_rpc_reply_t reply = amqp_consume_message(connection.state(), &envelope, nullptr, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) throw std::runtime_error("raw consume failed");
    amqp_basic_ack(connection.state(), amqp::Connection::channel, envelope.delivery_tag, 0);
    amqp_destroy_envelope(&envelope);
    ++done;
  }
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  return static_cast<double>(count) / seconds;
}

/// msg/s of `consumer` (started here) until `count` messages are acked.
template <class Consumer>
double run_consumer(Consumer& consumer, std::size_t count) {
  const auto start = clock_type::now();
  consumer.start();
  // Coarse polling: a waiting thread that wakes often would take CPU from the broker and the consumer.
  while (consumer.stats().acked < count) std::this_thread::sleep_for(std::chrono::milliseconds(2));
  const double seconds = std::chrono::duration<double>(clock_type::now() - start).count();
  consumer.stop();
  return static_cast<double>(count) / seconds;
}

void print_consumer() {
  const std::size_t count = std::getenv("SPAKKY_BENCH_CONSUME_COUNT")
                                ? std::strtoul(std::getenv("SPAKKY_BENCH_CONSUME_COUNT"), nullptr, 10)
                                : 10000;
  const std::string queue = topology().exchange + ".consume";
  topology().connection.declare_queue(queue);
  topology().connection.bind_queue(queue, topology().exchange, "OrderPlaced");
  constexpr std::uint16_t prefetch = 32;  // the consumer's default

  std::printf("\nConsuming %zu persistent messages already in one durable queue (prefetch %u, one ack per\n", count,
              static_cast<unsigned>(prefetch));
  std::printf("message). Raw: amqp_consume_message + basic.ack. spakky: RabbitMqEventConsumer (copy, JSON\n");
  std::printf("decode, dispatch to one handler, ack). msg/s from connect to the last ack; runs alternate.\n\n");
  std::printf("| %-3s | %-44s | %10s | %7s | %11s |\n", "run", "consumer", "msg/s", "ratio", "CPU us/msg");
  std::printf("|-----|%s|%s|%s|%s|\n", std::string(46, '-').c_str(), std::string(12, '-').c_str(),
              std::string(9, '-').c_str(), std::string(13, '-').c_str());
  std::vector<double> ratios;
  for (int run = 1; run <= 7; ++run) {
    fill(queue, count);
    double cpu = cpu_us();
    const double raw = raw_consume(queue, count, prefetch);
    const double raw_cpu = (cpu_us() - cpu) / static_cast<double>(count);
    fill(queue, count);
    ev::RabbitMqEventConsumer consumer(serializer(), {.url = broker_url(), .exchange = topology().exchange,
                                                      .queue = queue, .prefetch = prefetch});
    std::size_t seen = 0;
    auto subscription = consumer.register_handler([&](const OrderPlaced& e) { seen += e.order_id.size(); });
    cpu = cpu_us();
    const double spakky = run_consumer(consumer, count);
    const double spakky_cpu = (cpu_us() - cpu) / static_cast<double>(count);
    ratios.push_back(spakky / raw);
    std::printf("| %-3d | %-44s | %10.0f | %7s | %11.1f |\n", run, "raw librabbitmq-c consume + ack loop", raw, "1.00x",
                raw_cpu);
    std::printf("| %-3d | %-44s | %10.0f | %6.2fx | %11.1f |\n", run, "RabbitMqEventConsumer (decode+dispatch+ack)",
                spakky, spakky / raw, spakky_cpu);
  }
  std::sort(ratios.begin(), ratios.end());
  std::printf("\nmedian ratio RabbitMqEventConsumer / raw loop: %.2fx (target >= 0.90x)\n", ratios[ratios.size() / 2]);

  // Handlers that wait 1 ms each: the synchronous consumer takes them one at a time; the
  // coroutine consumer keeps many in flight (prefetch and max_in_flight 512).
  const std::size_t sync_count = 500;
  const std::size_t async_count = std::getenv("SPAKKY_BENCH_ASYNC_COUNT")
                                      ? std::strtoul(std::getenv("SPAKKY_BENCH_ASYNC_COUNT"), nullptr, 10)
                                      : 20000;
  fill(queue, sync_count);
  ev::RabbitMqEventConsumer sync_consumer(serializer(), {.url = broker_url(), .exchange = topology().exchange,
                                                         .queue = queue, .prefetch = prefetch});
  auto sync_sub = sync_consumer.register_handler([](const OrderPlaced&) {
    std::this_thread::sleep_for(std::chrono::milliseconds(1));
  });
  const double sync_rate = run_consumer(sync_consumer, sync_count);

  fill(queue, async_count);
  asio::io_context io;
  auto work = asio::make_work_guard(io);
  std::thread io_thread([&] { io.run(); });
  double async_rate = 0;
  {
    using Awaitable = asio::awaitable<void>;
    ev::AsyncRabbitMqEventConsumer<Awaitable> async_consumer(
        serializer(),
        {.url = broker_url(), .exchange = topology().exchange, .queue = queue, .prefetch = 512, .max_in_flight = 512},
        [ex = io.get_executor()](auto handling, auto done) { asio::co_spawn(ex, std::move(handling), std::move(done)); });
    auto async_sub = async_consumer.register_handler([](const OrderPlaced&) -> Awaitable {
      asio::steady_timer timer(co_await asio::this_coro::executor, std::chrono::milliseconds(1));
      co_await timer.async_wait(asio::use_awaitable);
    });
    async_rate = run_consumer(async_consumer, async_count);
  }
  // The same coroutine consumer with handlers that return at once: its ceiling on this broker.
  fill(queue, async_count);
  double ceiling = 0;
  {
    using Awaitable = asio::awaitable<void>;
    ev::AsyncRabbitMqEventConsumer<Awaitable> async_consumer(
        serializer(),
        {.url = broker_url(), .exchange = topology().exchange, .queue = queue, .prefetch = 512, .max_in_flight = 512},
        [ex = io.get_executor()](auto handling, auto done) { asio::co_spawn(ex, std::move(handling), std::move(done)); });
    auto async_sub = async_consumer.register_handler([](const OrderPlaced&) -> Awaitable { co_return; });
    ceiling = run_consumer(async_consumer, async_count);
  }
  work.reset();
  io_thread.join();
  std::printf("\nHandlers that wait 1 ms each (sync: sleep_for; async: an asio timer on one io_context thread):\n\n");
  std::printf("| %-58s | %8s | %10s | %7s |\n", "consumer", "messages", "msg/s", "ratio");
  std::printf("|%s|%s|%s|%s|\n", std::string(60, '-').c_str(), std::string(10, '-').c_str(),
              std::string(12, '-').c_str(), std::string(9, '-').c_str());
  std::printf("| %-58s | %8zu | %10.0f | %7s |\n", "RabbitMqEventConsumer (prefetch 32)", sync_count, sync_rate, "1.00x");
  std::printf("| %-58s | %8zu | %10.0f | %6.1fx |\n",
              "AsyncRabbitMqEventConsumer<asio::awaitable> (512 in flight)", async_count, async_rate,
              async_rate / sync_rate);
  std::printf("| %-58s | %8zu | %10.0f | %6.1fx |\n", "  (the same, handlers that return at once)",
              async_count, ceiling, ceiling / sync_rate);
  std::printf("\ntarget: async >= 20x sync\n");
  amqp_queue_delete(topology().connection.state(), amqp::Connection::channel, amqp::bytes(queue), 0, 0);
  amqp_queue_delete(topology().connection.state(), amqp::Connection::channel,
                    amqp::bytes(queue + ".dead-letter"), 0, 0);
  amqp_maybe_release_buffers(topology().connection.state());
}

}  // namespace

int main(int argc, char** argv) {
  const char* url = std::getenv("SPAKKY_RABBITMQ_URL");
  if (url == nullptr || *url == '\0') {
    std::fprintf(stderr,
                 "rabbitmq_bench: set SPAKKY_RABBITMQ_URL (bench/rabbitmq_bench.sh starts a broker and sets it)\n");
    return 2;
  }
  broker_url() = url;

  // Broker round trips are slow and noisy: longer runs, fewer repetitions than the CPU benches.
  std::vector<std::string> storage;
  std::vector<char*> args(argv, argv + argc);
  if (!bench::has_flag(argc, argv, "--benchmark_repetitions")) storage.emplace_back("--benchmark_repetitions=3");
  if (!bench::has_flag(argc, argv, "--benchmark_min_time")) storage.emplace_back("--benchmark_min_time=1");
  if (!bench::has_flag(argc, argv, "--benchmark_display_aggregates_only") &&
      !bench::has_flag(argc, argv, "--benchmark_report_aggregates_only")) {
    storage.emplace_back("--benchmark_display_aggregates_only=true");
  }
  for (auto& s : storage) args.insert(args.begin() + 1, s.data());
  int count = static_cast<int>(args.size());
  args.push_back(nullptr);
  const bool color = bench::use_color(argc, argv);
  benchmark::Initialize(&count, args.data());
  if (benchmark::ReportUnrecognizedArguments(count, args.data())) return 1;

  try {
    topology();
    if (std::getenv("SPAKKY_BENCH_ONLY_CONSUMER") == nullptr) {
      RateReporter reporter(color ? benchmark::ConsoleReporter::OO_Color : benchmark::ConsoleReporter::OO_None);
      benchmark::RunSpecifiedBenchmarks(&reporter);
      print_rates(reporter);
      if (std::getenv("SPAKKY_BENCH_SKIP_E2E") == nullptr) print_end_to_end();
    }
    if (std::getenv("SPAKKY_BENCH_SKIP_CONSUMER") == nullptr) print_consumer();
  } catch (const std::exception& e) {
    std::fprintf(stderr, "rabbitmq_bench: %s\n", e.what());
    return 1;
  }
  benchmark::Shutdown();
  return 0;
}
