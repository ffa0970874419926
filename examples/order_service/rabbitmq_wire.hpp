#pragma once
// order_service with `--broker amqp://user:pass@host:port/vhost`: OrderPlaced goes through
// RabbitMQ. The bus sends through a RabbitMqEventTransport (confirmed: each send returns once
// the broker has the message) to the exchange `shop.events`; the receiving service is a
// RabbitMqEventConsumer on the durable queue `shop.shipping`, running on its own thread in
// this same process, whose handlers print what they receive.
//
// Included by transport.hpp (after Wire and Options) when the build has spakky::event_rabbitmq
// (it defines SPAKKY_EXAMPLE_RABBITMQ).

#include <spakky/event/error.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/rabbitmq.hpp>

#include <chrono>
#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <memory>
#include <string_view>
#include <thread>

namespace shop {

class RabbitMqWire final : public Wire {
public:
  explicit RabbitMqWire(const Options& options)
      : transport_({.url = options.broker, .exchange = "shop.events", .connection_name = "order_service"}),
        consumer_(serializer_, {.url = options.broker, .exchange = "shop.events", .queue = "shop.shipping",
                                .connection_name = "order_service shipping"}),
        starting_(*this),
        send_only_(options.send_only) {
    connect(starting_);
  }

  ~RabbitMqWire() override { consumer_.stop(); }

  spakky::event::IntegrationEventConsumer& consumer() noexcept override { return consumer_; }

  /// Waits (a few seconds at most) until the shipping service has handled what was sent, then
  /// stops it.
  void finish() override {
    if (send_only_) {  // shipping_service, another process, handles them
      std::printf("[rabbitmq] %zu message(s) confirmed by the broker, for the shipping service\n", starting_.sent);
      return;
    }
    const auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(15);
    while (handled() < starting_.sent && std::chrono::steady_clock::now() < deadline) {
      std::this_thread::sleep_for(std::chrono::milliseconds(5));
    }
    consumer_.stop();
    std::printf("[rabbitmq] %zu message(s) confirmed by the broker, %zu handled from queue shop.shipping\n",
                starting_.sent, handled());
  }

private:
  [[nodiscard]] std::size_t handled() const {
    const auto stats = consumer_.stats();
    return static_cast<std::size_t>(stats.acked + stats.dead_lettered);
  }

  /// Starts the receiving service (declares its queue and binds its event names) just before
  /// the first message goes out: by then main() has registered its handlers, so nothing that
  /// may wait in the queue from an earlier run is taken before a handler is there for it.
  class StartingTransport final : public spakky::event::IEventTransport {
  public:
    explicit StartingTransport(RabbitMqWire& wire) : wire_(wire) {}
    void send(std::string_view name, std::string_view payload, const spakky::event::Headers& headers) override {
      if (!started_ && !wire_.send_only_) {
        wire_.consumer_.start();
        started_ = true;
        if (!wire_.consumer_.wait_until_consuming(std::chrono::seconds(15))) {
          throw spakky::event::TransportError(name, "the shipping service could not start consuming");
        }
      }
      wire_.transport_.send(name, payload, headers);
      ++sent;
    }
    std::size_t sent = 0;

  private:
    RabbitMqWire& wire_;
    bool started_ = false;
  };

  spakky::event::RabbitMqEventTransport transport_;
  spakky::event::RabbitMqEventConsumer consumer_;
  StartingTransport starting_;
  bool send_only_;
};

inline std::unique_ptr<Wire> make_rabbitmq_wire(const Options& options) {
  try {
    std::printf("[rabbitmq] broker %s, exchange shop.events, queue shop.shipping\n",
                spakky::event::AmqpUrl::parse(options.broker).redacted().c_str());
    return std::make_unique<RabbitMqWire>(options);
  } catch (const spakky::event::EventError& e) {  // an invalid URL
    std::fprintf(stderr, "--broker: %s\n", e.what());
    std::exit(2);
  }
}

}  // namespace shop
