// The C++ side of the pika interop test (pika_interop.py): sends or receives the Python
// spakky-rabbitmq plugin's way (RabbitMqTopology::queue_per_event), JSON as pydantic writes it.
//
//   python_peer <url> <exchange or -> send <order_id>...          sync transport, InteropOrderShipped
//   python_peer <url> <exchange or -> receive <count>             sync consumer, InteropOrderPlaced
//   python_peer <url> <exchange or -> receive-async <count>       coroutine consumer, InteropOrderPlaced
//   python_peer <url> <exchange> send-default-topology            expects the mismatch error
//
// Prints one line per message handled or sent; exits 1 on a failure or a timeout.

#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <atomic>
#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <string>
#include <thread>
#include <vector>

namespace interop {

namespace ev = spakky::event;

/// What the Python service sends (its dataclass of the same name and fields).
struct InteropOrderPlaced final : ev::AbstractIntegrationEvent {
  InteropOrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  double amount = 0;
  int quantity = 0;
  std::vector<std::string> tags;
};
SPAKKY_EVENT_JSON_FIELDS(InteropOrderPlaced, order_id, amount, quantity, tags)

/// What the C++ service sends back.
struct InteropOrderShipped final : ev::AbstractIntegrationEvent {
  InteropOrderShipped(std::string id, double w) : order_id(std::move(id)), weight(w) {}
  InteropOrderShipped(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  double weight = 0;
};
SPAKKY_EVENT_JSON_FIELDS(InteropOrderShipped, order_id, weight)

}  // namespace interop

namespace ev = spakky::event;
using interop::InteropOrderPlaced;
using interop::InteropOrderShipped;

namespace {

std::string header(const ev::IncomingMessage* message, const std::string& name) {
  if (message == nullptr) return "-";
  const auto found = message->headers.find(name);
  return found != message->headers.end() ? found->second : "-";
}

void print(const InteropOrderPlaced& e, const ev::IncomingMessage* message) {
  std::string tags;
  for (const auto& t : e.tags) tags += (tags.empty() ? "" : ",") + t;
  std::printf("received %s %s amount=%.17g quantity=%d tags=%s event_id=%s traceparent=%s\n",
              std::string(e.event_name()).c_str(), e.order_id.c_str(), e.amount, e.quantity, tags.c_str(),
              e.event_id().to_string().c_str(), header(message, "traceparent").c_str());
  std::fflush(stdout);
}

template <class Consumer>
int wait_for(Consumer& consumer, std::atomic<int>& handled, int count) {
  const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (handled.load() < count && std::chrono::steady_clock::now() < deadline) {
    std::this_thread::sleep_for(std::chrono::milliseconds(5));
  }
  consumer.stop();
  const auto stats = consumer.stats();
  std::printf("acked %llu, dead-lettered %llu\n", static_cast<unsigned long long>(stats.acked),
              static_cast<unsigned long long>(stats.dead_lettered));
  return handled.load() == count && stats.acked == static_cast<std::uint64_t>(count) ? 0 : 1;
}

}  // namespace

int main(int argc, char** argv) {
  if (argc < 4) {
    std::fprintf(stderr, "usage: %s <url> <exchange|-> send|receive|receive-async|send-default-topology ...\n", argv[0]);
    return 2;
  }
  const std::string url = argv[1];
  const std::string exchange = std::string(argv[2]) == "-" ? std::string() : argv[2];
  const std::string mode = argv[3];
  ev::JsonEventSerializer serializer;
  serializer.register_events<InteropOrderPlaced, InteropOrderShipped>();
  try {
    if (mode == "send") {
      ev::RabbitMqEventTransport transport(ev::RabbitMqTransportOptions::python_spakky(url, exchange));
      ev::DirectEventBus bus(transport, serializer);
      bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& h) {
        h["traceparent"] = "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01";
      });
      for (int i = 4; i < argc; ++i) {
        bus.send(InteropOrderShipped(argv[i], 1.5 + i));
        std::printf("sent InteropOrderShipped %s\n", argv[i]);
      }
      return 0;
    }
    if (mode == "send-default-topology") {
      ev::RabbitMqEventTransport transport({.url = url, .exchange = exchange});
      try {
        transport.send("InteropOrderShipped", "{}", {});
      } catch (const ev::TransportError& e) {
        std::printf("error: %s\n", e.what());
        return 0;
      }
      std::printf("sent without error\n");
      return 1;
    }
    const int count = argc > 4 ? std::atoi(argv[4]) : 1;
    std::atomic<int> handled{0};
    if (mode == "receive") {
      ev::RabbitMqEventConsumer consumer(serializer, ev::RabbitMqConsumerOptions::python_spakky(url, exchange));
      auto sub = consumer.register_handler([&](const InteropOrderPlaced& e) {
        print(e, consumer.current_message());
        handled.fetch_add(1);
      });
      consumer.start();
      return wait_for(consumer, handled, count);
    }
    if (mode == "receive-async") {
      ev::AsyncRabbitMqEventConsumer<> consumer(serializer, ev::RabbitMqConsumerOptions::python_spakky(url, exchange));
      auto sub = consumer.register_handler([&](const InteropOrderPlaced& e) -> ev::Task<> {
        print(e, consumer.message_of(e));
        handled.fetch_add(1);
        co_return;
      });
      consumer.start();
      return wait_for(consumer, handled, count);
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "python_peer: %s\n", e.what());
    return 1;
  }
  std::fprintf(stderr, "python_peer: unknown mode %s\n", mode.c_str());
  return 2;
}
