#pragma once
/// @file
/// What the RabbitMQ transports and the consumer share: one AMQP connection with one channel
/// over librabbitmq-c, its errors, and the conversions between Headers and AMQP field tables.
/// Not thread-safe (neither is librabbitmq-c): one thread at a time per Connection.

#include <spakky/event/event_publisher.hpp>
#include <spakky/event/observability/log_record.hpp>
#include <spakky/event/observability/metrics.hpp>
#include <spakky/event/rabbitmq/amqp_url.hpp>

#include <amqp.h>
#include <amqp_framing.h>
#include <amqp_tcp_socket.h>

#include <poll.h>
#include <sys/time.h>

#include <algorithm>
#include <charconv>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event::detail::rabbitmq {

/// The connection can no longer be used: refused, closed by the broker, a socket error, a
/// timeout. The owner drops the Connection and makes a new one.
class ConnectionLost : public std::runtime_error {
public:
  using std::runtime_error::runtime_error;
};

/// The broker refused an operation and closed the channel (or the connection) with a reply
/// code: 406 PRECONDITION_FAILED for a declaration that does not match what exists, 404 for a
/// passive declaration of something missing, 403 for a missing permission.
class ChannelRefused : public ConnectionLost {
public:
  ChannelRefused(std::string what, int code, std::string text)
      : ConnectionLost(std::move(what)), code_(code), text_(std::move(text)) {}
  [[nodiscard]] int code() const noexcept { return code_; }
  /// The broker's reply text, e.g. "PRECONDITION_FAILED - inequivalent arg 'type' ...".
  [[nodiscard]] const std::string& text() const noexcept { return text_; }

private:
  int code_;
  std::string text_;
};

/// How a queue is declared (when it does not exist yet): durable, and the optional arguments.
struct QueueSpec {
  bool durable = true;
  std::string type;                    ///< x-queue-type ("quorum", "classic"); empty: none
  std::int64_t message_ttl_ms = -1;    ///< x-message-ttl; negative: none
  std::int64_t max_length = -1;        ///< x-max-length; negative: none
  std::string overflow;                ///< x-overflow ("drop-head", "reject-publish"); empty: none
};

/// `component` ("rabbitmq.transport", "rabbitmq.consumer") connected again after its
/// connection was lost: on_reconnected, and an info record "connected to the broker again".
inline void report_reconnected(std::string_view component) noexcept {
  if (MetricsObserver* observer = metrics_observer()) observer->on_reconnected(component);
  write_log(LogLevel::info, component, "connected to the broker again");
}

/// How to reach and talk to the broker.
struct ConnectSettings {
  AmqpUrl url;
  std::chrono::milliseconds connect_timeout{5000};  ///< TCP connect, and again the AMQP handshake
  std::chrono::milliseconds rpc_timeout{10000};     ///< each declare / bind / consume round trip
  int heartbeat_seconds = 0;                        ///< 0: no heartbeats
  std::string connection_name;                      ///< shown by the broker (rabbitmqctl list_connections)
};

/// The connection settings of a transport's or a consumer's options (both have the same
/// connection fields); a `connection_timeout` in the URL overrides connect_timeout.
template <class Options>
ConnectSettings connect_settings(const Options& options) {
  ConnectSettings settings;
  settings.url = AmqpUrl::parse(options.url);
  settings.connect_timeout = options.connect_timeout;
  if (settings.url.connection_timeout_ms >= 0) {
    settings.connect_timeout = std::chrono::milliseconds(settings.url.connection_timeout_ms);
  }
  settings.rpc_timeout = options.rpc_timeout;
  settings.heartbeat_seconds = options.heartbeat_seconds;
  settings.connection_name = options.connection_name;
  return settings;
}

inline amqp_bytes_t bytes(std::string_view text) noexcept {
  amqp_bytes_t result;
  result.len = text.size();
  result.bytes = const_cast<char*>(text.data());  // librabbitmq only reads through it
  return result;
}

inline std::string_view view(amqp_bytes_t data) noexcept {
  if (data.len == 0 || data.bytes == nullptr) return {};
  return {static_cast<const char*>(data.bytes), data.len};
}

inline timeval to_timeval(std::chrono::milliseconds timeout) noexcept {
  if (timeout.count() < 0) timeout = std::chrono::milliseconds(0);
  timeval tv{};
  tv.tv_sec = static_cast<decltype(tv.tv_sec)>(timeout.count() / 1000);
  tv.tv_usec = static_cast<decltype(tv.tv_usec)>((timeout.count() % 1000) * 1000);
  return tv;
}

inline std::string status_text(int status) { return amqp_error_string2(status); }

/// What an RPC reply says, for error messages.
inline std::string describe_reply(const amqp_rpc_reply_t& reply) {
  switch (reply.reply_type) {
    case AMQP_RESPONSE_NORMAL:
      return "ok";
    case AMQP_RESPONSE_NONE:
      return "no reply from the broker";
    case AMQP_RESPONSE_LIBRARY_EXCEPTION:
      return status_text(reply.library_error);
    case AMQP_RESPONSE_SERVER_EXCEPTION:
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        return "the broker closed the connection: " + std::to_string(close->reply_code) + " " +
               std::string(view(close->reply_text));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        return "the broker closed the channel: " + std::to_string(close->reply_code) + " " +
               std::string(view(close->reply_text));
      }
      return "unexpected reply from the broker (method " + std::to_string(reply.reply.id) + ")";
  }
  return "unknown reply";
}

/// An AMQP field table (of long strings, unless add_entry() adds other kinds) that views the
/// keys and values it was given (they must outlive every use of table()). Reuses its storage
/// from one message to the next.
class HeaderTable {
public:
  void clear() noexcept { entries_.clear(); }
  /// Adds one header; false if the name is too long for AMQP (255 bytes) or empty.
  bool add(std::string_view name, std::string_view value) {
    if (name.empty() || name.size() > 255) return false;
    amqp_table_entry_t entry{};
    entry.key = bytes(name);
    entry.value.kind = AMQP_FIELD_KIND_UTF8;
    entry.value.value.bytes = bytes(value);
    entries_.push_back(entry);
    return true;
  }
  /// Adds an entry of any kind as it is (it views the entry's memory, like add()).
  void add_entry(const amqp_table_entry_t& entry) { entries_.push_back(entry); }
  /// Adds every header; returns the first name that cannot be sent, or an empty view.
  std::string_view add_all(const Headers& headers) {
    for (const auto& [name, value] : headers) {
      if (!add(name, value)) return name.empty() ? std::string_view("<empty>") : std::string_view(name);
    }
    return {};
  }
  [[nodiscard]] bool empty() const noexcept { return entries_.empty(); }
  [[nodiscard]] amqp_table_t table() noexcept {
    amqp_table_t result;
    result.num_entries = static_cast<int>(entries_.size());
    result.entries = entries_.data();
    return result;
  }

private:
  std::vector<amqp_table_entry_t> entries_;
};

/// The text of one scalar field value; false for tables, arrays and decimals (not carried).
inline bool field_text(const amqp_field_value_t& field, std::string& out) {
  const auto number = [&out](auto value) {
    char buffer[64];
    const auto result = std::to_chars(buffer, buffer + sizeof buffer, value);
    out.assign(buffer, result.ptr);
    return true;
  };
  switch (field.kind) {
    case AMQP_FIELD_KIND_UTF8:
    case AMQP_FIELD_KIND_BYTES:
      out.assign(view(field.value.bytes));
      return true;
    case AMQP_FIELD_KIND_BOOLEAN:
      out = field.value.boolean ? "true" : "false";
      return true;
    case AMQP_FIELD_KIND_I8: return number(field.value.i8);
    case AMQP_FIELD_KIND_U8: return number(field.value.u8);
    case AMQP_FIELD_KIND_I16: return number(field.value.i16);
    case AMQP_FIELD_KIND_U16: return number(field.value.u16);
    case AMQP_FIELD_KIND_I32: return number(field.value.i32);
    case AMQP_FIELD_KIND_U32: return number(field.value.u32);
    case AMQP_FIELD_KIND_I64: return number(field.value.i64);
    case AMQP_FIELD_KIND_U64:
    case AMQP_FIELD_KIND_TIMESTAMP: return number(field.value.u64);
    case AMQP_FIELD_KIND_F32: return number(field.value.f32);
    case AMQP_FIELD_KIND_F64: return number(field.value.f64);
    case AMQP_FIELD_KIND_VOID:
      out.clear();
      return true;
    default:
      return false;
  }
}

/// Adds the scalar entries of `table` to `headers` as text (tables, arrays and decimals, such
/// as the broker's own x-death, are left out).
inline void read_headers(const amqp_table_t& table, Headers& headers) {
  std::string text;
  for (int i = 0; i < table.num_entries; ++i) {
    const amqp_table_entry_t& entry = table.entries[i];
    if (field_text(entry.value, text)) headers.insert_or_assign(std::string(view(entry.key)), text);
  }
}

/// One AMQP connection with one open channel (number 1). Connects in the constructor (bounded
/// by ConnectSettings::connect_timeout) and throws ConnectionLost if it cannot.
class Connection {
public:
  static constexpr amqp_channel_t channel = 1;

  explicit Connection(const ConnectSettings& settings) : state_(amqp_new_connection()) {
    if (state_ == nullptr) throw ConnectionLost("cannot create an AMQP connection (out of memory)");
    try {
      open(settings);
    } catch (...) {
      amqp_destroy_connection(state_);
      throw;
    }
  }

  ~Connection() {
    if (can_close_) {
      // A polite close, but never a long wait for a broker that does not answer.
      timeval tv = to_timeval(std::chrono::milliseconds(1000));
      amqp_set_rpc_timeout(state_, &tv);
      amqp_connection_close(state_, AMQP_REPLY_SUCCESS);
    }
    amqp_destroy_connection(state_);
  }

  Connection(const Connection&) = delete;
  Connection& operator=(const Connection&) = delete;

  [[nodiscard]] amqp_connection_state_t state() const noexcept { return state_; }
  /// False once the connection failed or was closed; the owner makes a new one.
  [[nodiscard]] bool usable() const noexcept { return usable_; }

  /// Declares an exchange (not auto-deleted, not internal). Throws ChannelRefused (406) if it
  /// exists with another type or durability.
  void declare_exchange(std::string_view name, std::string_view type, bool durable = true) {
    amqp_exchange_declare(state_, channel, bytes(name), bytes(type), /*passive=*/0, durable ? 1 : 0,
                          /*auto_delete=*/0, /*internal=*/0, amqp_empty_table);
    check_rpc("declare exchange '" + std::string(name) + "'");
  }

  /// Declares a durable queue; a non-empty `type` ("quorum", "classic", ...) is passed as
  /// its x-queue-type argument.
  void declare_queue(std::string_view name, std::string_view type = {}) {
    QueueSpec spec;
    spec.type = std::string(type);
    declare_queue(name, spec);
  }

  /// Declares a queue as `spec` says. Throws ChannelRefused (406) if it exists otherwise.
  void declare_queue(std::string_view name, const QueueSpec& spec) {
    amqp_table_entry_t entries[4]{};
    int count = 0;
    if (!spec.type.empty()) {
      entries[count].key = amqp_cstring_bytes("x-queue-type");
      entries[count].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[count++].value.value.bytes = bytes(spec.type);
    }
    if (spec.message_ttl_ms >= 0) {
      entries[count].key = amqp_cstring_bytes("x-message-ttl");
      entries[count].value.kind = AMQP_FIELD_KIND_I64;
      entries[count++].value.value.i64 = spec.message_ttl_ms;
    }
    if (spec.max_length >= 0) {
      entries[count].key = amqp_cstring_bytes("x-max-length");
      entries[count].value.kind = AMQP_FIELD_KIND_I64;
      entries[count++].value.value.i64 = spec.max_length;
    }
    if (!spec.overflow.empty()) {
      entries[count].key = amqp_cstring_bytes("x-overflow");
      entries[count].value.kind = AMQP_FIELD_KIND_UTF8;
      entries[count++].value.value.bytes = bytes(spec.overflow);
    }
    const amqp_table_t arguments{count, entries};
    amqp_queue_declare(state_, channel, bytes(name), /*passive=*/0, spec.durable ? 1 : 0, /*exclusive=*/0,
                       /*auto_delete=*/0, arguments);
    check_rpc("declare queue '" + std::string(name) + "'");
  }

  /// True if queue `name` exists (a passive declaration, on a second channel that the
  /// broker's 404 for a missing queue closes instead of the main one).
  bool queue_exists(std::string_view name) {
    if (!side_open_) {
      amqp_channel_open(state_, side_channel);
      check_rpc("open a channel", side_channel);
      side_open_ = true;
    }
    amqp_queue_declare(state_, side_channel, bytes(name), /*passive=*/1, 0, 0, 0, amqp_empty_table);
    try {
      check_rpc("look up queue '" + std::string(name) + "'", side_channel);
      return true;
    } catch (const ChannelRefused& refused) {
      if (refused.code() != 404 || !usable()) throw;
      side_open_ = false;  // the broker closed the side channel
      return false;
    }
  }

  /// Declares queue `name` as `spec` says unless it exists already (whatever its settings):
  /// how spakky-event meets queues another program (the Python spakky-rabbitmq plugin)
  /// declared with other settings. True if it declared it.
  bool ensure_queue(std::string_view name, const QueueSpec& spec) {
    if (queue_exists(name)) return false;
    declare_queue(name, spec);
    return true;
  }

  /// True while the broker blocks this connection's publishes (connection.blocked: a
  /// resource alarm such as memory or disk); reason() says why.
  [[nodiscard]] bool blocked() const noexcept { return blocked_; }
  [[nodiscard]] const std::string& blocked_reason() const noexcept { return blocked_reason_; }

  void bind_queue(std::string_view queue, std::string_view exchange, std::string_view routing_key) {
    amqp_queue_bind(state_, channel, bytes(queue), bytes(exchange), bytes(routing_key), amqp_empty_table);
    check_rpc("bind queue '" + std::string(queue) + "' to '" + std::string(exchange) + "' with '" +
              std::string(routing_key) + "'");
  }

  void unbind_queue(std::string_view queue, std::string_view exchange, std::string_view routing_key) {
    amqp_queue_unbind(state_, channel, bytes(queue), bytes(exchange), bytes(routing_key), amqp_empty_table);
    check_rpc("unbind queue '" + std::string(queue) + "' from '" + std::string(exchange) + "' with '" +
              std::string(routing_key) + "'");
  }

  void set_prefetch(std::uint16_t count) {
    amqp_basic_qos(state_, channel, 0, count, 0);
    check_rpc("set the prefetch count");
  }

  /// Puts the channel in confirm mode: the broker acks (or nacks) every later publish, with
  /// delivery tags 1, 2, 3, ... on this channel.
  void select_confirms() {
    amqp_confirm_select(state_, channel);
    check_rpc("enable publisher confirms");
  }

  /// Starts consuming `queue` with manual acks; returns the consumer tag.
  std::string consume(std::string_view queue) {
    const amqp_basic_consume_ok_t* ok = amqp_basic_consume(state_, channel, bytes(queue), amqp_empty_bytes,
                                                           /*no_local=*/0, /*no_ack=*/0, /*exclusive=*/0,
                                                           amqp_empty_table);
    check_rpc("consume queue '" + std::string(queue) + "'");
    return ok != nullptr ? std::string(view(ok->consumer_tag)) : std::string();
  }

  /// Stops the consumer `consumer_tag` (basic.cancel, waiting for cancel-ok). Deliveries the
  /// broker sent before it are kept by the library: next_frame() returns them later.
  void cancel_consume(std::string_view consumer_tag) {
    amqp_basic_cancel(state_, channel, bytes(consumer_tag));
    check_rpc("cancel the consumer");
  }

  /// Publishes one message. `mandatory`: the broker returns it (basic.return, before its
  /// confirm) if no queue takes it, instead of dropping it.
  void publish(std::string_view exchange, std::string_view routing_key, const amqp_basic_properties_t& properties,
               std::string_view body, bool mandatory = false) {
    const int status = amqp_basic_publish(state_, channel, bytes(exchange), bytes(routing_key), mandatory ? 1 : 0,
                                          /*immediate=*/0, &properties, bytes(body));
    if (status != AMQP_STATUS_OK) lost("publish failed: " + status_text(status));
  }

  /// Acknowledges `delivery_tag` (with `multiple`: every unacknowledged delivery up to it).
  void ack(std::uint64_t delivery_tag, bool multiple = false) {
    const int status = amqp_basic_ack(state_, channel, delivery_tag, multiple ? 1 : 0);
    if (status != AMQP_STATUS_OK) lost("ack failed: " + status_text(status));
  }

  /// The next frame, waiting at most `timeout` (zero: only what has arrived already); false if
  /// none came. A connection.close or channel.close from the broker is answered and thrown as
  /// ConnectionLost, like any socket error.
  bool next_frame(amqp_frame_t& frame, std::chrono::milliseconds timeout) {
    timeval tv = to_timeval(timeout);
    const int status = amqp_simple_wait_frame_noblock(state_, &frame, &tv);
    if (status == AMQP_STATUS_TIMEOUT) return false;
    if (status != AMQP_STATUS_OK) lost("connection lost: " + status_text(status));
    if (frame.frame_type != AMQP_FRAME_METHOD) return true;
    if (frame.payload.method.id == AMQP_CONNECTION_BLOCKED_METHOD) {
      const auto* blocked = static_cast<const amqp_connection_blocked_t*>(frame.payload.method.decoded);
      blocked_ = true;
      blocked_reason_ = view(blocked->reason);
      return true;
    }
    if (frame.payload.method.id == AMQP_CONNECTION_UNBLOCKED_METHOD) {
      blocked_ = false;
      blocked_reason_.clear();
      return true;
    }
    if (frame.payload.method.id == AMQP_CONNECTION_CLOSE_METHOD) {
      const auto* close = static_cast<const amqp_connection_close_t*>(frame.payload.method.decoded);
      std::string reason = "the broker closed the connection: " + std::to_string(close->reply_code) + " " +
                           std::string(view(close->reply_text));
      amqp_connection_close_ok_t close_ok{};
      amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
      can_close_ = false;
      lost(std::move(reason));
    }
    if (frame.payload.method.id == AMQP_CHANNEL_CLOSE_METHOD) {
      const auto* close = static_cast<const amqp_channel_close_t*>(frame.payload.method.decoded);
      std::string reason = "the broker closed the channel: " + std::to_string(close->reply_code) + " " +
                           std::string(view(close->reply_text));
      amqp_channel_close_ok_t close_ok{};
      amqp_send_method(state_, frame.channel, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
      lost(std::move(reason));
    }
    return true;
  }

  /// True if a frame can be read without waiting: buffered by the library or on the socket.
  [[nodiscard]] bool readable() const noexcept {
    if (amqp_frames_enqueued(state_) || amqp_data_in_buffer(state_)) return true;
    pollfd fd{};
    fd.fd = amqp_get_sockfd(state_);
    fd.events = POLLIN;
    return fd.fd >= 0 && ::poll(&fd, 1, 0) > 0;
  }

  /// The socket's descriptor, for poll().
  [[nodiscard]] int fd() const noexcept { return amqp_get_sockfd(state_); }

  /// Reads the properties and body that follow a basic.deliver just returned by next_frame().
  /// The caller destroys `message` with amqp_destroy_message.
  void read_message(amqp_message_t& message) {
    const amqp_rpc_reply_t reply = amqp_read_message(state_, channel, &message, 0);
    if (reply.reply_type != AMQP_RESPONSE_NORMAL) lost("cannot read a delivered message: " + describe_reply(reply));
  }

  /// What read_return() found: the message the broker handed back, and why.
  struct Returned {
    std::string exchange;
    std::string routing_key;
    std::string body;
    std::string reason;  ///< for an error message (the error escapes it)
  };

  /// Reads a basic.return just returned by next_frame() (`frame`) and the message that
  /// follows it: the broker could not route a message published with `mandatory`.
  Returned read_return(const amqp_frame_t& frame) {
    const auto* method = static_cast<const amqp_basic_return_t*>(frame.payload.method.decoded);
    Returned result;
    result.exchange = view(method->exchange);
    result.routing_key = view(method->routing_key);
    result.reason = "the broker could not route the message (basic.return " + std::to_string(method->reply_code) +
                    " " + std::string(view(method->reply_text)) + "): no queue is bound to exchange '" +
                    result.exchange + "' for routing key '" + result.routing_key + "'";
    amqp_message_t message;
    read_message(message);
    result.body = view(message.body);
    amqp_destroy_message(&message);
    return result;
  }

  /// Frees the memory of frames already handled (all of it: callers copy what they keep).
  void release_buffers() noexcept { amqp_maybe_release_buffers(state_); }

  /// Marks the connection unusable and throws ConnectionLost(reason).
  [[noreturn]] void lost(std::string reason) {
    usable_ = false;
    throw ConnectionLost(std::move(reason));
  }

private:
  void open(const ConnectSettings& settings) {
    const AmqpUrl& url = settings.url;
    amqp_socket_t* socket = amqp_tcp_socket_new(state_);  // owned by the connection
    if (socket == nullptr) throw ConnectionLost("cannot create a TCP socket");
    timeval connect_tv = to_timeval(settings.connect_timeout);
    const int status = amqp_socket_open_noblock(socket, url.host.c_str(), url.port, &connect_tv);
    if (status != AMQP_STATUS_OK) {
      throw ConnectionLost("cannot connect to " + url.redacted() + ": " + status_text(status));
    }
    amqp_set_handshake_timeout(state_, &connect_tv);
    timeval rpc_tv = to_timeval(settings.rpc_timeout);
    amqp_set_rpc_timeout(state_, &rpc_tv);

    // Client properties: a name for the connection, the consumer-cancel notification (the
    // broker tells a consumer when its queue is deleted) and connection.blocked.
    amqp_table_entry_t capability[2];
    capability[0].key = amqp_cstring_bytes("consumer_cancel_notify");
    capability[0].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability[0].value.value.boolean = 1;
    // The broker tells us when a resource alarm (memory, disk) blocks our publishes.
    capability[1].key = amqp_cstring_bytes("connection.blocked");
    capability[1].value.kind = AMQP_FIELD_KIND_BOOLEAN;
    capability[1].value.value.boolean = 1;
    amqp_table_entry_t properties[3];
    int count = 0;
    properties[count].key = amqp_cstring_bytes("capabilities");
    properties[count].value.kind = AMQP_FIELD_KIND_TABLE;
    properties[count].value.value.table.num_entries = 2;
    properties[count].value.value.table.entries = capability;
    ++count;
    properties[count].key = amqp_cstring_bytes("product");
    properties[count].value.kind = AMQP_FIELD_KIND_UTF8;
    properties[count].value.value.bytes = amqp_cstring_bytes("spakky-event");
    ++count;
    if (!settings.connection_name.empty()) {
      properties[count].key = amqp_cstring_bytes("connection_name");
      properties[count].value.kind = AMQP_FIELD_KIND_UTF8;
      properties[count].value.value.bytes = bytes(settings.connection_name);
      ++count;
    }
    amqp_table_t client_properties;
    client_properties.num_entries = count;
    client_properties.entries = properties;

    int heartbeat = settings.heartbeat_seconds;
    if (url.heartbeat_seconds >= 0) heartbeat = url.heartbeat_seconds;
    const amqp_rpc_reply_t login =
        amqp_login_with_properties(state_, url.vhost.c_str(), /*channel_max=*/0, /*frame_max=*/131072, heartbeat,
                                   &client_properties, AMQP_SASL_METHOD_PLAIN, url.user.c_str(), url.password.c_str());
    if (login.reply_type != AMQP_RESPONSE_NORMAL) {
      throw ConnectionLost("cannot log in to " + url.redacted() + ": " + describe_reply(login));
    }
    can_close_ = true;
    amqp_channel_open(state_, channel);
    check_rpc("open a channel");
  }

  void check_rpc(const std::string& what, amqp_channel_t on = channel) {
    const amqp_rpc_reply_t reply = amqp_get_rpc_reply(state_);
    if (reply.reply_type == AMQP_RESPONSE_NORMAL) return;
    if (reply.reply_type == AMQP_RESPONSE_SERVER_EXCEPTION) {
      if (reply.reply.id == AMQP_CONNECTION_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_connection_close_t*>(reply.reply.decoded);
        const int code = close->reply_code;
        std::string text(view(close->reply_text));
        amqp_connection_close_ok_t close_ok{};
        amqp_send_method(state_, 0, AMQP_CONNECTION_CLOSE_OK_METHOD, &close_ok);
        can_close_ = false;
        usable_ = false;
        throw ChannelRefused("cannot " + what + ": " + describe_reply(reply), code, std::move(text));
      }
      if (reply.reply.id == AMQP_CHANNEL_CLOSE_METHOD) {
        const auto* close = static_cast<const amqp_channel_close_t*>(reply.reply.decoded);
        const int code = close->reply_code;
        std::string text(view(close->reply_text));
        std::string message = "cannot " + what + ": " + describe_reply(reply);
        amqp_channel_close_ok_t close_ok{};
        amqp_send_method(state_, on, AMQP_CHANNEL_CLOSE_OK_METHOD, &close_ok);
        // The main channel closed: the connection is of no more use. The side channel
        // (passive look-ups) is simply opened again.
        if (on == channel) usable_ = false;
        throw ChannelRefused(std::move(message), code, std::move(text));
      }
    } else if (reply.reply_type == AMQP_RESPONSE_LIBRARY_EXCEPTION) {
      // A timeout or socket error: the library may have closed the socket already.
      if (reply.library_error == AMQP_STATUS_TIMEOUT || reply.library_error == AMQP_STATUS_SOCKET_ERROR ||
          reply.library_error == AMQP_STATUS_CONNECTION_CLOSED || reply.library_error == AMQP_STATUS_SOCKET_CLOSED ||
          reply.library_error == AMQP_STATUS_HEARTBEAT_TIMEOUT) {
        can_close_ = false;
      }
    }
    lost("cannot " + what + ": " + describe_reply(reply));
  }

  static constexpr amqp_channel_t side_channel = 2;

  amqp_connection_state_t state_;
  bool usable_ = true;
  bool can_close_ = false;
  bool side_open_ = false;
  bool blocked_ = false;
  std::string blocked_reason_;
};

/// What an options struct must say to use an exchange or queue that exists with other settings
/// than the ones it was about to declare: from the broker's 406 text ("inequivalent arg 'type'
/// for exchange 'x' in vhost '/': received 'topic' but current is 'direct'"). `options` names
/// the options struct (RabbitMqTransportOptions, ...). Empty if `refused` is no such mismatch.
inline std::string mismatch_advice(const ChannelRefused& refused, std::string_view options) {
  if (refused.code() != 406) return {};
  const std::string& text = refused.text();
  const auto arg_at = text.find("inequivalent arg '");
  if (arg_at == std::string::npos) return {};
  const auto arg_begin = arg_at + 18;
  const auto arg_end = text.find('\'', arg_begin);
  if (arg_end == std::string::npos) return {};
  const std::string arg = text.substr(arg_begin, arg_end - arg_begin);
  const bool exchange = text.find("for exchange '") != std::string::npos;
  std::string current;
  if (const auto cur = text.find("current is "); cur != std::string::npos) {
    current = text.substr(cur + 11);
    if (current.rfind("the value ", 0) == 0) current.erase(0, 10);
    if (current.size() >= 2 && current.front() == '\'' && current.back() == '\'') current = current.substr(1, current.size() - 2);
    if (current == "none") current.clear();
  }
  std::string advice;
  const std::string o(options);
  if (exchange && arg == "type") {
    advice = "set " + o + "::exchange_type = \"" + current + "\"";
  } else if (exchange && arg == "durable") {
    advice = "set " + o + "::exchange_durable = " + current;
  } else if (arg == "durable") {
    advice = "the queue exists with durable = " + current + ": delete it, or declare it elsewhere as this consumer needs it";
  } else if (arg == "x-queue-type") {
    advice = "set " + o + "::queue_type = \"" + current + "\"";
  } else if (arg == "x-message-ttl") {
    advice = "set " + o + "::message_ttl = " + (current.empty() ? "{} (none)" : current + " ms");
  } else if (arg == "x-max-length") {
    advice = "set " + o + "::max_length = " + (current.empty() ? "{} (none)" : current);
  } else {
    advice = "declare it with the settings it has (argument '" + arg + "')";
  }
  std::string hint = exchange ? " (RabbitMqTopology::queue_per_event declares exchanges as the Python spakky-rabbitmq "
                                "plugin does, with pika's defaults: type \"direct\", not durable), or set " + o +
                                    "::declare_exchange = false to use it as it is"
                              : "";
  return (exchange ? "the exchange exists with other settings than " : "the queue exists with other settings than ") + o +
         " declares: " + advice + hint;
}

/// The properties every spakky message carries: type = event name, content type, persistence
/// and the headers (the table views `headers`, which must outlive the publish).
inline amqp_basic_properties_t message_properties(std::string_view event_name, std::string_view content_type,
                                                  bool persistent, HeaderTable& headers) {
  amqp_basic_properties_t properties{};
  properties._flags = AMQP_BASIC_CONTENT_TYPE_FLAG | AMQP_BASIC_DELIVERY_MODE_FLAG | AMQP_BASIC_TYPE_FLAG;
  properties.content_type = bytes(content_type);
  properties.delivery_mode = persistent ? AMQP_DELIVERY_PERSISTENT : AMQP_DELIVERY_NONPERSISTENT;
  properties.type = bytes(event_name);
  if (!headers.empty()) {
    properties._flags |= AMQP_BASIC_HEADERS_FLAG;
    properties.headers = headers.table();
  }
  return properties;
}

}  // namespace spakky::event::detail::rabbitmq
