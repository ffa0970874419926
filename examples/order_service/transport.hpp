#pragma once
// Where integration events leave the process, and where another service receives them.
//
// A Wire bundles the JSON serializer, the transport the bus sends through (wrapped so that
// every message sent is printed) and a consumer on the same broker. Without options it is an
// in-memory broker in this process (InMemoryWire); `--broker amqp://...` selects RabbitMQ
// (rabbitmq_wire.hpp, compiled in when the build defines SPAKKY_EXAMPLE_RABBITMQ).

#include "domain.hpp"

#include <spakky/event/consumer/integration_event_consumer.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>

#include <cstddef>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <memory>
#include <string>
#include <string_view>

namespace shop {

struct Options {
  std::string broker;    ///< `--broker amqp://user:pass@host:port/vhost`; empty: in-memory broker
  std::string db = ":memory:";  ///< `--db PATH`: the SQLite database of orders and outbox
  std::string postgres;  ///< `--postgres URL`: PostgreSQL instead of SQLite
  /// `--send-only` (with --broker): only send; another process (shipping_service) consumes.
  bool send_only = false;
};

inline Options parse_options(int argc, char** argv) {
  Options options;
  for (int i = 1; i < argc; ++i) {
    const std::string_view arg(argv[i]);
    if (arg == "--broker" && i + 1 < argc) {
      options.broker = argv[++i];
    } else if (arg.rfind("--broker=", 0) == 0) {
      options.broker = std::string(arg.substr(9));
    } else if (arg == "--send-only") {
      options.send_only = true;
    } else if (arg == "--db" && i + 1 < argc) {
      options.db = argv[++i];
    } else if (arg == "--postgres" && i + 1 < argc) {
      options.postgres = argv[++i];
    } else {
      std::fprintf(stderr,
                   "usage: %s [--broker amqp://user:pass@host:port/vhost [--send-only]] [--db PATH | --postgres URL]\n",
                   argv[0]);
      std::exit(2);
    }
  }
  return options;
}

inline std::string describe(std::exception_ptr error) {
  try {
    std::rethrow_exception(error);
  } catch (const std::exception& e) {
    return e.what();
  } catch (...) {
    return "unknown error";
  }
}

/// The service's wire format: every integration event it sends or receives, registered once.
inline spakky::event::JsonEventSerializer make_serializer() {
  spakky::event::JsonEventSerializer serializer;
  serializer.register_event<OrderPlaced>();
  return serializer;
}

/// Prints each message, then hands it to the broker's transport.
class PrintingTransport final : public spakky::event::IEventTransport {
public:
  void connect(spakky::event::IEventTransport& broker) noexcept { broker_ = &broker; }

  void send(std::string_view name, std::string_view payload, const spakky::event::Headers& headers) override {
    std::printf("[transport] %.*s %.*s", int(name.size()), name.data(), int(payload.size()), payload.data());
    for (const auto& [key, value] : headers) std::printf(" %s=%s", key.c_str(), value.c_str());
    std::printf("\n");
    broker_->send(name, payload, headers);
    ++sent_;
  }
  [[nodiscard]] std::size_t sent() const noexcept { return sent_; }

private:
  spakky::event::IEventTransport* broker_ = nullptr;
  std::size_t sent_ = 0;
};

/// The serializer, the (printing) transport the bus sends through, and a consumer on the same
/// broker whose handlers receive what was sent.
class Wire {
public:
  virtual ~Wire() = default;
  spakky::event::IEventTransport& transport() noexcept { return printing_; }
  const spakky::event::IEventSerializer& serializer() const noexcept { return serializer_; }
  /// Where handlers of integration events are registered (the receiving service).
  virtual spakky::event::IntegrationEventConsumer& consumer() noexcept = 0;
  /// Waits until the consumer has handled everything sent (a no-op in memory).
  virtual void finish() {}
  /// Messages handed to the broker.
  [[nodiscard]] std::size_t sent() const noexcept { return printing_.sent(); }

protected:
  /// Messages sent through transport() go on to `broker` after being printed.
  void connect(spakky::event::IEventTransport& broker) noexcept { printing_.connect(broker); }
  const spakky::event::JsonEventSerializer serializer_ = make_serializer();

private:
  PrintingTransport printing_;
};

/// A loopback broker in this process: a message is handled by the consumer before send returns.
class InMemoryWire final : public Wire {
public:
  InMemoryWire() { connect(broker_); }
  spakky::event::IntegrationEventConsumer& consumer() noexcept override { return consumer_; }

private:
  spakky::event::InMemoryEventTransport broker_;
  spakky::event::InMemoryEventConsumer consumer_{broker_, serializer_};
};

}  // namespace shop

#ifdef SPAKKY_EXAMPLE_RABBITMQ
#include "rabbitmq_wire.hpp"  // std::unique_ptr<Wire> make_rabbitmq_wire(const Options&)
#endif

namespace shop {

inline std::unique_ptr<Wire> make_wire(const Options& options) {
  if (options.broker.empty()) return std::make_unique<InMemoryWire>();
#ifdef SPAKKY_EXAMPLE_RABBITMQ
  return make_rabbitmq_wire(options);
#else
  std::fprintf(stderr, "--broker: this build has no RabbitMQ support (librabbitmq-dev not found)\n");
  std::exit(2);
#endif
}

}  // namespace shop
