// The library's counts and timings in the Prometheus text format: a MetricsObserver that
// counts into atomics (the dispatch counter is on every dispatch's path: one relaxed
// increment) and per-event-name tables for the rarer reports, printed the way a /metrics
// endpoint would serve them. The flow that feeds it runs through the in-memory broker:
// dispatches, a failing handler, sends, a retried and a dead-lettered message.
//
// Build (besides spakky::event and spakky::event_json): nothing else, e.g.
//   g++ -std=c++20 prometheus_metrics.cpp $(pkg-config --cflags --libs spakky-event-json)

#include <spakky/event.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/observability.hpp>

#include <atomic>
#include <chrono>
#include <cstdint>
#include <cstdio>
#include <map>
#include <mutex>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

namespace ev = spakky::event;

// --- the observer: copy this part ----------------------------------------------------------

/// Counts what spakky-event reports and writes it in the Prometheus text exposition format.
class PrometheusMetrics final : public ev::MetricsObserver {
public:
  void on_dispatched(const ev::AbstractEvent&) noexcept override { dispatched_.fetch_add(1, std::memory_order_relaxed); }
  void on_handler_failed(const ev::AbstractEvent& event) noexcept override {
    count(handler_failures_, event.event_name());
  }
  void on_sent(std::string_view event_name) noexcept override { count(sent_, event_name); }
  void on_confirmed(std::string_view event_name, std::chrono::nanoseconds latency) noexcept override {
    count(confirmed_, event_name);
    add_seconds(confirm_seconds_sum_, latency);
  }
  void on_retried(std::string_view event_name, std::size_t) noexcept override { count(retried_, event_name); }
  void on_dead_lettered(std::string_view event_name, std::string_view) noexcept override {
    count(dead_lettered_, event_name);
  }
  void on_consumed(std::string_view event_name, std::chrono::nanoseconds duration) noexcept override {
    count(consumed_, event_name);
    add_seconds(consume_seconds_sum_, duration);
  }
  void on_reconnected(std::string_view component) noexcept override { count(reconnects_, component); }
  void on_outbox_pending(std::size_t rows) noexcept override { outbox_pending_.store(rows, std::memory_order_relaxed); }
  void on_relay_lag(std::chrono::nanoseconds lag) noexcept override {
    relay_lag_seconds_.store(std::chrono::duration<double>(lag).count(), std::memory_order_relaxed);
  }

  /// The text a Prometheus server scrapes.
  std::string text() const {
    std::string out;
    family(out, "spakky_event_dispatched_total", "counter", "Events dispatched by the in-process mediators.");
    out += "spakky_event_dispatched_total " + std::to_string(dispatched_.load(std::memory_order_relaxed)) + "\n";
    labelled(out, "spakky_event_handler_failures_total", "Handler calls that threw.", "event", handler_failures_);
    labelled(out, "spakky_event_sent_total", "Messages handed to the broker.", "event", sent_);
    labelled(out, "spakky_event_confirmed_total", "Messages the broker confirmed.", "event", confirmed_);
    labelled(out, "spakky_event_retried_total", "Deliveries that failed and will be retried.", "event", retried_);
    labelled(out, "spakky_event_dead_lettered_total", "Messages given up on.", "event", dead_lettered_);
    labelled(out, "spakky_event_consumed_total", "Messages handled and acknowledged.", "event", consumed_);
    labelled(out, "spakky_event_reconnects_total", "Broker connections made again after a loss.", "component",
             reconnects_);
    family(out, "spakky_event_confirm_seconds_sum", "counter", "Time from send to broker confirm, summed.");
    out += "spakky_event_confirm_seconds_sum " + number(confirm_seconds_sum_.load()) + "\n";
    family(out, "spakky_event_consume_seconds_sum", "counter", "Time from receipt to acknowledgement, summed.");
    out += "spakky_event_consume_seconds_sum " + number(consume_seconds_sum_.load()) + "\n";
    family(out, "spakky_event_outbox_pending_rows", "gauge", "Outbox rows not yet sent, as a relay last saw them.");
    out += "spakky_event_outbox_pending_rows " + std::to_string(outbox_pending_.load()) + "\n";
    family(out, "spakky_event_relay_lag_seconds", "gauge", "Time from writing a row to sending it, last row.");
    out += "spakky_event_relay_lag_seconds " + number(relay_lag_seconds_.load()) + "\n";
    return out;
  }

private:
  using Table = std::map<std::string, std::uint64_t, std::less<>>;

  // Reports other than on_dispatched are rare (one per message, not per handler call): a
  // mutex and a map per family are fine there.
  void count(Table& table, std::string_view label) noexcept {
    try {
      const std::lock_guard lock(mutex_);
      const auto it = table.find(label);
      if (it != table.end()) ++it->second;
      else table.emplace(std::string(label), 1);
    } catch (...) {
      // Out of memory: one count lost; an observer never throws into the library.
    }
  }
  static void add_seconds(std::atomic<double>& sum, std::chrono::nanoseconds d) noexcept {
    double old = sum.load(std::memory_order_relaxed);
    while (!sum.compare_exchange_weak(old, old + std::chrono::duration<double>(d).count(), std::memory_order_relaxed)) {
    }
  }

  static void family(std::string& out, std::string_view name, std::string_view type, std::string_view help) {
    out.append("# HELP ").append(name).append(" ").append(help).append("\n");
    out.append("# TYPE ").append(name).append(" ").append(type).append("\n");
  }
  void labelled(std::string& out, std::string_view name, std::string_view help, std::string_view label,
                const Table& table) const {
    family(out, name, "counter", help);
    const std::lock_guard lock(mutex_);
    for (const auto& [value, n] : table) {
      out.append(name).append("{").append(label).append("=\"").append(escape_label(value)).append("\"} ");
      out.append(std::to_string(n)).append("\n");
    }
  }
  /// A label value as the text format needs it: backslash, double quote and newline escaped
  /// (event names may come from the wire).
  static std::string escape_label(std::string_view value) {
    std::string out;
    for (const char c : value) {
      if (c == '\\') out += "\\\\";
      else if (c == '"') out += "\\\"";
      else if (c == '\n') out += "\\n";
      else out += c;
    }
    return out;
  }
  static std::string number(double v) {
    char buffer[32];
    std::snprintf(buffer, sizeof buffer, "%g", v);
    return buffer;
  }

  std::atomic<std::uint64_t> dispatched_{0};
  std::atomic<double> confirm_seconds_sum_{0}, consume_seconds_sum_{0}, relay_lag_seconds_{0};
  std::atomic<std::size_t> outbox_pending_{0};
  mutable std::mutex mutex_;
  Table handler_failures_, sent_, confirmed_, retried_, dead_lettered_, consumed_, reconnects_;
};

// --- a flow to observe ---------------------------------------------------------------------

struct CartUpdated final : ev::AbstractDomainEvent {
  explicit CartUpdated(int n) : items(n) {}
  int items;
};

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced() = default;
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
};
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id)

int main() {
  PrometheusMetrics metrics;  // outlives everything below: installed for the whole program
  ev::ScopedMetricsObserver installed(metrics);
  ev::set_log_level(ev::LogLevel::off);  // this example shows the metrics only

  // In process: three dispatches, one of them with a failing handler.
  ev::EventMediator mediator;
  mediator.set_error_handler([](const ev::AbstractEvent&, std::exception_ptr) {});
  ev::ScopedSubscription recount = mediator.register_handler([](const CartUpdated& e) -> void {
    if (e.items > 10) throw std::runtime_error("cart too large");
  });
  for (int items : {1, 2, 11}) mediator.dispatch(CartUpdated(items));

  // Through the in-memory broker: o-1 is handled, o-2 fails every delivery.
  ev::JsonEventSerializer serializer;
  serializer.register_event<OrderPlaced>();
  ev::InMemoryEventTransport transport;
  ev::InMemoryEventConsumer consumer(transport, serializer);
  ev::ScopedSubscription shipping = consumer.register_handler([](const OrderPlaced& e) -> void {
    if (e.order_id == "o-2") throw std::runtime_error("warehouse offline");
  });
  ev::DirectEventBus bus(transport, serializer);
  for (const char* id : {"o-1", "o-2"}) {
    OrderPlaced event;
    event.order_id = id;
    bus.send(event);
  }

  std::fputs(metrics.text().c_str(), stdout);
}
