// A broker resource alarm (rabbitmqctl set_vm_memory_high_watermark 0 on the private node):
// the broker blocks publishing connections (connection.blocked). A send waits at most
// blocked_timeout and then fails with TransportError, on both transports, and works again
// once the alarm is gone. RUN_SERIAL: the alarm blocks every publisher of the node.

#include "support/rabbitmq_broker.hpp"
#include "support/sync.hpp"

#include <spakky/event/rabbitmq.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdlib>
#include <stdexcept>
#include <string>

namespace ev = spakky::event;
using namespace std::chrono_literals;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

namespace {

/// rabbitmqctl against the test node, through the broker script.
void ctl(const std::string& arguments) {
  const char* script = std::getenv("SPAKKY_RABBITMQ_BROKER_SCRIPT");
  if (script == nullptr) throw std::runtime_error("SPAKKY_RABBITMQ_BROKER_SCRIPT is not set: run through ctest");
  const std::string command = std::string("'") + script + "' ctl " + arguments + " >/dev/null 2>&1";
  if (std::system(command.c_str()) != 0) throw std::runtime_error("failed: " + command);
}

/// Sets the memory alarm for its lifetime (the watermark back to the default after).
struct MemoryAlarm {
  MemoryAlarm() { ctl("set_vm_memory_high_watermark 0"); }
  ~MemoryAlarm() {
    try {
      ctl("set_vm_memory_high_watermark 0.4");
    } catch (...) {
    }
  }
};

}  // namespace

TEST_CASE("while the broker blocks publishing, a send fails after blocked_timeout instead of hanging, and works after",
          "[rabbitmq][alarm]") {
  const std::string exchange = unique_name("test.alarm");
  const std::string queue = exchange + ".queue";
  RawClient client;
  client.declare_exchange(exchange);
  client.declare_queue(queue);
  client.bind(queue, exchange, "OrderPlaced");

  ev::RabbitMqEventTransport transport({.url = broker_url(), .exchange = exchange, .blocked_timeout = 1500ms});
  ev::AsyncRabbitMqEventTransport async_transport({.url = broker_url(), .exchange = exchange, .blocked_timeout = 1500ms});
  transport.send("OrderPlaced", "before", {});
  ev::sync_wait(async_transport.send("OrderPlaced", "before", {}));
  {
    MemoryAlarm alarm;
    CHECK_THROWS_WITH(transport.send("OrderPlaced", "during", {}), Catch::Contains("blocks publishing"));
    CHECK_THROWS_WITH(ev::sync_wait(async_transport.send("OrderPlaced", "during", {})),
                      Catch::Contains("blocks publishing"));
    // Still blocked: the next send fails the same way, within its bound.
    CHECK_THROWS_AS(transport.send("OrderPlaced", "during", {}), ev::TransportError);
  }
  // The alarm is gone: sends go through again (the broker may take a moment to unblock).
  CHECK(test_support::eventually([&] {
    try {
      transport.send("OrderPlaced", "after", {});
      ev::sync_wait(async_transport.send("OrderPlaced", "after", {}));
      return true;
    } catch (const ev::TransportError&) {
      return false;
    }
  }, 30s));
  client.delete_queue(queue);
  client.delete_exchange(exchange);
}
