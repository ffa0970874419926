#pragma once
// What the RabbitMQ tests share: the test broker's URL (from the CTest fixture's
// environment), unique names, and a raw librabbitmq-c client to look at queues directly.

#include <spakky/event/event_id.hpp>
#include <spakky/event/rabbitmq/detail/amqp_connection.hpp>
#include <spakky/event/rabbitmq/detail/field_table.hpp>

#include <amqp.h>

#include <chrono>
#include <cstdint>
#include <cstdlib>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <thread>

namespace test_support::rabbitmq {

/// The test broker's URL: SPAKKY_RABBITMQ_URL, set by CTest for the tests that use the
/// rabbitmq_broker fixture. Throws (failing the test) when it is not set.
inline std::string broker_url() {
  const char* url = std::getenv("SPAKKY_RABBITMQ_URL");
  if (url == nullptr || *url == '\0') {
    throw std::runtime_error(
        "SPAKKY_RABBITMQ_URL is not set: run this test through ctest (its rabbitmq_broker fixture starts the "
        "broker), or start one with scripts/rabbitmq-test-broker.sh start and export what it prints");
  }
  return url;
}

/// `prefix` + a random suffix: every test declares its own exchanges and queues, so reruns
/// and parallel tests never see each other's messages.
inline std::string unique_name(std::string_view prefix) {
  return std::string(prefix) + "." + spakky::event::EventId::generate().to_string().substr(0, 13);
}

/// A message read back with basic.get.
struct RawMessage {
  std::string routing_key;
  std::string exchange;
  std::string type;
  std::string content_type;
  std::uint8_t delivery_mode = 0;
  bool redelivered = false;
  spakky::event::Headers headers;               // scalar headers as text
  spakky::event::detail::rabbitmq::FieldTable table;  // the header table as it came
  std::string body;
};

/// A plain connection for checks: what is in a queue, raw publishes, clean-up.
class RawClient {
public:
  explicit RawClient(const std::string& url = broker_url()) : connection_(settings(url)) {}

  [[nodiscard]] amqp_connection_state_t state() const noexcept { return connection_.state(); }

  /// Takes one message from `queue` (basic.get, auto-ack); nullopt if it is empty. With
  /// `ack` false the message stays unacknowledged: the broker gives it back when this client
  /// closes, as when a consumer dies holding it.
  std::optional<RawMessage> get(const std::string& queue, bool ack = true) {
    using spakky::event::detail::rabbitmq::bytes;
    using spakky::event::detail::rabbitmq::view;
    const amqp_rpc_reply_t reply = amqp_basic_get(state(), channel, bytes(queue), /*no_ack=*/ack ? 1 : 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      throw std::runtime_error("basic.get failed: " + spakky::event::detail::rabbitmq::describe_reply(reply));
    }
    if (reply.reply.id == AMQP_BASIC_GET_EMPTY_METHOD) return std::nullopt;
    const auto* ok = static_cast<const amqp_basic_get_ok_t*>(reply.reply.decoded);
    RawMessage result;
    result.routing_key = view(ok->routing_key);
    result.exchange = view(ok->exchange);
    result.redelivered = ok->redelivered != 0;
    amqp_message_t message;
    const amqp_rpc_reply_t read = amqp_read_message(state(), channel, &message, 0);
    if (read.reply_type != AMQP_RESPONSE_NORMAL) throw std::runtime_error("cannot read the message");
    const amqp_basic_properties_t& p = message.properties;
    if (p._flags & AMQP_BASIC_TYPE_FLAG) result.type = view(p.type);
    if (p._flags & AMQP_BASIC_CONTENT_TYPE_FLAG) result.content_type = view(p.content_type);
    if (p._flags & AMQP_BASIC_DELIVERY_MODE_FLAG) result.delivery_mode = p.delivery_mode;
    if (p._flags & AMQP_BASIC_HEADERS_FLAG) {
      spakky::event::detail::rabbitmq::read_headers(p.headers, result.headers);
      result.table = spakky::event::detail::rabbitmq::FieldTable(p.headers);
    }
    result.body = view(message.body);
    amqp_destroy_message(&message);
    amqp_maybe_release_buffers(state());
    return result;
  }

  /// get(), retrying until a message comes or `timeout` passes.
  std::optional<RawMessage> get_within(const std::string& queue, std::chrono::milliseconds timeout, bool ack = true) {
    const auto deadline = std::chrono::steady_clock::now() + timeout;
    for (;;) {
      if (auto message = get(queue, ack)) return message;
      if (std::chrono::steady_clock::now() > deadline) return std::nullopt;
      std::this_thread::sleep_for(std::chrono::milliseconds(20));
    }
  }

  /// Publishes raw bytes; without `type` the message has no type property (the consumer
  /// then takes the event name from the routing key).
  void publish(const std::string& exchange, const std::string& routing_key, std::string_view body,
               const std::optional<std::string>& type = std::nullopt, const spakky::event::Headers& headers = {}) {
    using spakky::event::detail::rabbitmq::bytes;
    spakky::event::detail::rabbitmq::HeaderTable table;
    table.add_all(headers);
    amqp_basic_properties_t properties{};
    properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG;
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    if (type) {
      properties._flags |= AMQP_BASIC_TYPE_FLAG;
      properties.type = bytes(*type);
    }
    if (!table.empty()) {
      properties._flags |= AMQP_BASIC_HEADERS_FLAG;
      properties.headers = table.table();
    }
    connection_.publish(exchange, routing_key, properties, body);
  }

  /// Publishes raw bytes with a header table of any field types (persistent, with `type`).
  void publish_table(const std::string& exchange, const std::string& routing_key, std::string_view body,
                     const std::string& type, const amqp_table_t& headers) {
    using spakky::event::detail::rabbitmq::bytes;
    amqp_basic_properties_t properties{};
    properties._flags = AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG | AMQP_BASIC_HEADERS_FLAG;
    properties.delivery_mode = AMQP_DELIVERY_PERSISTENT;
    properties.type = bytes(type);
    properties.headers = headers;
    connection_.publish(exchange, routing_key, properties, body);
  }

  /// The number of ready messages in `queue` (a passive declare).
  std::uint32_t message_count(const std::string& queue) {
    using spakky::event::detail::rabbitmq::bytes;
    const amqp_queue_declare_ok_t* ok =
        amqp_queue_declare(state(), channel, bytes(queue), /*passive=*/1, 0, 0, 0, amqp_empty_table);
    if (ok == nullptr) throw std::runtime_error("queue '" + queue + "' does not exist");
    return ok->message_count;
  }

  void declare_exchange(const std::string& name, const std::string& type = "topic") {
    connection_.declare_exchange(name, type);
  }
  void declare_queue(const std::string& name) { connection_.declare_queue(name); }
  void bind(const std::string& queue, const std::string& exchange, const std::string& routing_key) {
    connection_.bind_queue(queue, exchange, routing_key);
  }
  /// A durable queue holding at most `max_length` messages; the broker refuses (nacks) the
  /// publishes routed to it beyond that (x-overflow = reject-publish).
  void declare_bounded_queue(const std::string& name, int max_length) {
    using spakky::event::detail::rabbitmq::bytes;
    amqp_table_entry_t entries[2]{};
    entries[0].key = amqp_cstring_bytes("x-max-length");
    entries[0].value.kind = AMQP_FIELD_KIND_I32;
    entries[0].value.value.i32 = max_length;
    entries[1].key = amqp_cstring_bytes("x-overflow");
    entries[1].value.kind = AMQP_FIELD_KIND_UTF8;
    entries[1].value.value.bytes = amqp_cstring_bytes("reject-publish");
    const amqp_table_t arguments{2, entries};
    amqp_queue_declare(state(), channel, bytes(name), 0, /*durable=*/1, 0, 0, arguments);
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state());
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) {
      throw std::runtime_error("cannot declare " + name + ": " +
                               spakky::event::detail::rabbitmq::describe_reply(reply));
    }
  }

  /// Deletes test queues and exchanges (best effort).
  void delete_queue(const std::string& name) {
    amqp_queue_delete(state(), channel, spakky::event::detail::rabbitmq::bytes(name), 0, 0);
  }
  void delete_exchange(const std::string& name) {
    amqp_exchange_delete(state(), channel, spakky::event::detail::rabbitmq::bytes(name), 0);
  }

private:
  static constexpr amqp_channel_t channel = spakky::event::detail::rabbitmq::Connection::channel;

  static spakky::event::detail::rabbitmq::ConnectSettings settings(const std::string& url) {
    spakky::event::detail::rabbitmq::ConnectSettings result;
    result.url = spakky::event::AmqpUrl::parse(url);
    result.connection_name = "spakky-event test client";
    return result;
  }

  spakky::event::detail::rabbitmq::Connection connection_;
};

}  // namespace test_support::rabbitmq
