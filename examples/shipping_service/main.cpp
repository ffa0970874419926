// The second service of the two-process example: consumes the OrderPlaced events that
// order_service sends through RabbitMQ, with a coroutine consumer, and ships each order.
//
//   shipping_service --broker amqp://guest:guest@127.0.0.1:5672/ [--count N]
//
// Declares and binds its queue (shop.shipping on exchange shop.events), prints
// "[shipping] consuming" once it does, handles events until N arrived (or SIGINT / SIGTERM),
// then stops cleanly: what runs finishes, what waits goes back to the queue.
// scripts/two-process-demo.sh runs it beside order_service.

#include "../order_service/domain.hpp"  // OrderPlaced and its JSON fields: the shared contract

#include <spakky/event/bus/trace_context.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <atomic>
#include <chrono>
#include <csignal>
#include <cstdio>
#include <cstdlib>
#include <string>
#include <string_view>
#include <thread>

namespace ev = spakky::event;

namespace {

std::atomic<bool> interrupted{false};

void on_signal(int) { interrupted.store(true); }

/// The shipping work: an I/O-bound step a coroutine handler would await (here: none).
ev::Task<> book_carrier(const shop::OrderPlaced& e) {
  std::printf("[shipping] carrier booked for %s\n", e.order_id.c_str());
  co_return;
}

}  // namespace

int main(int argc, char** argv) {
  std::string broker;
  long count = 0;  // 0: until a signal
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--broker" && i + 1 < argc) {
      broker = argv[++i];
    } else if (arg == "--count" && i + 1 < argc) {
      count = std::strtol(argv[++i], nullptr, 10);
    } else {
      std::fprintf(stderr, "usage: %s --broker amqp://user:pass@host:port/vhost [--count N]\n", argv[0]);
      return 2;
    }
  }
  if (broker.empty()) {
    std::fprintf(stderr, "shipping_service: --broker is required\n");
    return 2;
  }
  std::signal(SIGINT, on_signal);
  std::signal(SIGTERM, on_signal);

  ev::JsonEventSerializer serializer;
  serializer.register_event<shop::OrderPlaced>();

  // --- consuming through RabbitMQ: these lines are all it takes ---------------------------
  ev::AsyncRabbitMqEventConsumer<> consumer(serializer, {.url = broker, .exchange = "shop.events",
                                                         .queue = "shop.shipping", .prefetch = 16,
                                                         .connection_name = "shipping_service"});
  std::atomic<long> shipped{0};
  auto subscription = consumer.register_handler([&](const shop::OrderPlaced& e) -> ev::Task<> {
    const ev::IncomingMessage* message = consumer.message_of(e);
    const auto trace = message != nullptr ? ev::trace_context_from(message->headers) : std::nullopt;
    std::printf("[shipping] received OrderPlaced %s: ship %d x %s (event %s, trace %s)\n", e.order_id.c_str(),
                e.quantity, e.item.c_str(), e.event_id().to_string().c_str(), trace ? trace->trace_id.c_str() : "none");
    co_await book_carrier(e);
    shipped.fetch_add(1);
  });
  consumer.start();  // its own thread: declares, binds, consumes
  // -----------------------------------------------------------------------------------------

  if (!consumer.wait_until_consuming(std::chrono::seconds(30))) {
    std::fprintf(stderr, "shipping_service: could not start consuming from %s\n",
                 ev::AmqpUrl::parse(broker).redacted().c_str());
    return 1;
  }
  std::printf("[shipping] consuming queue shop.shipping on %s\n", ev::AmqpUrl::parse(broker).redacted().c_str());
  std::fflush(stdout);
  while (!interrupted.load() && (count == 0 || shipped.load() < count)) {
    std::this_thread::sleep_for(std::chrono::milliseconds(10));
  }
  consumer.stop();
  const auto stats = consumer.stats();
  std::printf("[shipping] stopped: %llu acked, %llu dead-lettered\n", static_cast<unsigned long long>(stats.acked),
              static_cast<unsigned long long>(stats.dead_lettered));
  return 0;
}
