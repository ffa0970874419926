// What the in-memory broker reports to the metrics observer and the log: every message sent,
// every redelivery (warn), every dead letter (error) and every acknowledged message, with the
// event name and the reason escaped in the log.
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/task.hpp>

#include "support/counting_metrics.hpp"
#include "support/log_capture.hpp"

#include <catch2/catch.hpp>

#include <chrono>
#include <stdexcept>
#include <string>
#include <utility>
#include <vector>

namespace inmemory_observability_test {

namespace ev = spakky::event;

struct InvoiceIssued final : ev::AbstractIntegrationEvent {
  explicit InvoiceIssued(std::string id) : invoice(std::move(id)) {}
  InvoiceIssued(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string invoice;
};
SPAKKY_EVENT_JSON_FIELDS(InvoiceIssued, invoice)

struct Wire {
  Wire() { serializer.register_event<InvoiceIssued>(); }
  ev::JsonEventSerializer serializer;
  ev::InMemoryEventTransport transport;
  ev::DirectEventBus bus{transport, serializer};
};

}  // namespace inmemory_observability_test

using namespace inmemory_observability_test;
using test_support::CountingMetrics;
using test_support::LogCapture;

TEST_CASE("the in-memory broker reports sent, retried, dead-lettered and consumed messages", "[inmemory][observability]") {
  CountingMetrics metrics;
  LogCapture log;
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 3);
  auto sub = consumer.register_handler([](const InvoiceIssued& e) {
    if (e.invoice == "inv-2") throw std::runtime_error("ledger locked");
  });

  wire.bus.send(InvoiceIssued("inv-1"));
  wire.bus.send(InvoiceIssued("inv-2"));

  CHECK(metrics.sent == 2);
  CHECK(metrics.consumed == 1);
  CHECK(metrics.retried == 2);
  CHECK(metrics.dead_lettered == 1);
  const std::vector<std::string> expected{
      "sent InvoiceIssued",           "consumed InvoiceIssued",
      "sent InvoiceIssued",           "failed InvoiceIssued",
      "retried InvoiceIssued 1",      "failed InvoiceIssued",
      "retried InvoiceIssued 2",      "failed InvoiceIssued",
      "dead-lettered InvoiceIssued: ledger locked"};
  CHECK(metrics.log() == expected);

  const auto retries = log.matching("inmemory", "delivering it again");
  REQUIRE(retries.size() == 2);
  CHECK(retries[0].level == ev::LogLevel::warn);
  CHECK(retries[0].message == "delivery 1 of 'InvoiceIssued' failed, delivering it again: ledger locked");
  const auto dead = log.matching("inmemory", "dead-lettered");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].level == ev::LogLevel::error);
  CHECK(dead[0].message == "dead-lettered 'InvoiceIssued' after 3 deliveries: ledger locked");
}

TEST_CASE("the in-memory broker's log escapes a forged event name and reason", "[inmemory][observability][escape]") {
  LogCapture log;
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer);
  auto all = consumer.register_handler([](const ev::AbstractIntegrationEvent&) {});  // binds every name

  wire.transport.send("Forged\nspakky::event [info] inmemory: all good", "{}", {});

  const auto dead = log.matching("inmemory", "dead-lettered");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].message.find('\n') == std::string::npos);
  CHECK(dead[0].message.find("'Forged\\nspakky::event [info] inmemory: all good'") != std::string::npos);
  REQUIRE(consumer.dead_letters().size() == 1);  // the log takes nothing from the dead letter
}

TEST_CASE("with the log silenced and no observer, the in-memory broker still retries and dead-letters", "[inmemory][observability]") {
  LogCapture log(ev::LogLevel::off);
  Wire wire;
  ev::InMemoryEventConsumer consumer(wire.transport, wire.serializer, 2);
  int calls = 0;
  auto sub = consumer.register_handler([&](const InvoiceIssued&) {
    ++calls;
    throw std::runtime_error("down");
  });
  wire.bus.send(InvoiceIssued("inv-1"));
  CHECK(calls == 2);
  CHECK(consumer.dead_letters().size() == 1);
  CHECK(log.size() == 0);
}

TEST_CASE("the coroutine in-memory consumer reports retried, dead-lettered and consumed messages the same way",
          "[inmemory][observability][async]") {
  CountingMetrics metrics;
  LogCapture log;
  Wire wire;
  ev::AsyncInMemoryEventConsumer<> consumer(wire.transport, wire.serializer, {.max_delivery_attempts = 2});
  auto sub = consumer.register_handler([](const InvoiceIssued& e) -> ev::Task<> {
    if (e.invoice == "inv-2") throw std::runtime_error("ledger locked");
    co_return;
  });

  wire.bus.send(InvoiceIssued("inv-1"));
  wire.bus.send(InvoiceIssued("inv-2"));
  REQUIRE(consumer.wait_idle(std::chrono::seconds(30)));

  CHECK(metrics.sent == 2);
  CHECK(metrics.consumed == 1);
  CHECK(metrics.retried == 1);
  CHECK(metrics.dead_lettered == 1);
  const auto dead = log.matching("inmemory", "dead-lettered");
  REQUIRE(dead.size() == 1);
  CHECK(dead[0].level == ev::LogLevel::error);
  CHECK(dead[0].message == "dead-lettered 'InvoiceIssued' after 2 deliveries: ledger locked");
  CHECK(log.matching("inmemory", "delivery 1 of 'InvoiceIssued' failed, delivering it again: ledger locked").size() == 1);
}
