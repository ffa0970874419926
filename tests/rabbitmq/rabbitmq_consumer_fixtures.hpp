#pragma once
// What the RabbitMQ consumer tests share: a record of what handlers saw, and one test's own
// exchange, queue and dead-letter queue.

#include "support/rabbitmq_broker.hpp"
#include "rabbitmq_events.hpp"

#include <spakky/event/rabbitmq.hpp>

#include <chrono>
#include <cstdint>
#include <mutex>
#include <string>
#include <utility>
#include <vector>

namespace rabbitmq_test {

namespace ev = spakky::event;
using test_support::rabbitmq::broker_url;
using test_support::rabbitmq::RawClient;
using test_support::rabbitmq::unique_name;

/// What handlers saw, written on the consumer's thread, read on the test's.
struct Seen {
  struct Call {
    std::string order_id;
    int quantity = 0;
    std::uint32_t attempt = 0;
    ev::Headers headers;
  };
  void add(Call call) {
    const std::lock_guard lock(mutex);
    calls.push_back(std::move(call));
  }
  std::size_t size() const {
    const std::lock_guard lock(mutex);
    return calls.size();
  }
  std::vector<Call> snapshot() const {
    const std::lock_guard lock(mutex);
    return calls;
  }
  mutable std::mutex mutex;
  std::vector<Call> calls;
};

/// One test's exchange, queue and dead-letter queue, deleted at the end.
struct Names {
  Names() : exchange(unique_name("test.exchange")), queue(unique_name("test.queue")), dead_letter(queue + ".dead-letter") {}
  ~Names() {
    try {
      RawClient client;
      client.delete_queue(queue);
      client.delete_queue(dead_letter);
      client.delete_exchange(exchange);
    } catch (...) {
    }
  }
  ev::RabbitMqConsumerOptions consumer_options() const {
    return {.url = broker_url(), .exchange = exchange, .queue = queue,
            .reconnect_delay = std::chrono::milliseconds(50), .max_reconnect_delay = std::chrono::milliseconds(500)};
  }
  std::string exchange;
  std::string queue;
  std::string dead_letter;
};

/// What a handler of `consumer` records about the OrderPlaced it runs on.
inline Seen::Call record(const ev::RabbitMqEventConsumer& consumer, const OrderPlaced& e) {
  const ev::IncomingMessage* message = consumer.current_message();
  return {e.order_id, e.quantity, message ? message->delivery_attempt : 0, message ? message->headers : ev::Headers{}};
}

}  // namespace rabbitmq_test
