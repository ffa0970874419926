#pragma once
/// @file
/// OutboxEventBus and AsyncOutboxEventBus: the bus of a transactional outbox. They prepare a
/// message exactly as DirectEventBus does (same serializer, header injectors, bearer tokens
/// dropped) and append it to the outbox table in the caller's open transaction, so that the
/// event commits or rolls back with the caller's data. An OutboxRelay sends it later.
///
/// **Example**
/// @code
/// spakky::event::SqliteOutboxWriter writer(db);          // the application's sqlite3*
/// spakky::event::OutboxEventBus bus(writer, serializer);
/// exec(db, "BEGIN");
/// exec(db, "UPDATE stock SET n = n - 1 WHERE sku = 'a'");
/// bus.send(StockReserved("a"), "sku-a");                 // a row in the same transaction
/// exec(db, "COMMIT");                                    // both, or neither
/// @endcode

#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/bus/header_injection.hpp>
#include <spakky/event/event_publisher.hpp>
#include <spakky/event/outbox/detail/header_codec.hpp>
#include <spakky/event/outbox/outbox_writer.hpp>
#include <spakky/event/outbox/partition_key.hpp>
#include <spakky/event/serializer.hpp>
#include <spakky/event/task.hpp>

#include <optional>
#include <string>
#include <string_view>
#include <utility>

namespace spakky::event {

namespace detail {

/// What both outbox buses share: message preparation and the choice of partition key.
class OutboxAppender {
public:
  OutboxAppender(IOutboxWriter& writer, const IEventSerializer& serializer) noexcept
      : writer_(writer), serializer_(serializer) {}

  void add(HeaderInjector injector) { injection_.add(std::move(injector)); }
  void set_default_key(std::optional<std::string> key) { default_key_ = std::move(key); }
  [[nodiscard]] const std::optional<std::string>& default_key() const noexcept { return default_key_; }

  /// The key of `event`: `explicit_key` if given, else the event's own (PartitionKeyed), else the
  /// default set by the unit of work (the aggregate's id), else the event name.
  [[nodiscard]] std::string key_for(const AbstractIntegrationEvent& event,
                                    const std::optional<std::string_view>& explicit_key) const {
    if (explicit_key) return std::string(*explicit_key);
    if (const auto* keyed = dynamic_cast<const PartitionKeyed*>(&event)) return keyed->partition_key();
    if (default_key_) return *default_key_;
    return std::string(event.event_name());
  }

  void append(const AbstractIntegrationEvent& event, const std::optional<std::string_view>& explicit_key) {
    const OutgoingMessage message = prepare_message(event, serializer_, injection_);
    const std::string key = key_for(event, explicit_key);
    const std::string id = event.event_id().to_string();
    const std::string headers = encode_headers(message.headers);
    writer_.append(OutboxMessage{id, message.event_name, message.payload, headers, key});
  }

private:
  IOutboxWriter& writer_;
  const IEventSerializer& serializer_;
  HeaderInjection injection_;
  std::optional<std::string> default_key_;
};

}  // namespace detail

/// An IEventBus that appends to an outbox instead of sending. `send` throws SerializationError
/// (the serializer refused the event: nothing is written, so the unit of work fails before
/// COMMIT), NotInTransactionError (the writer's connection has no open transaction: nothing is
/// written) or OutboxStoreError. Collaborators must outlive the bus. Not thread-safe: one bus
/// per connection, as a connection serves one transaction at a time.
class OutboxEventBus final : public IEventBus {
public:
  /// A bus writing through `writer`, serializing with `serializer`; both must outlive it.
  OutboxEventBus(IOutboxWriter& writer, const IEventSerializer& serializer) noexcept : appender_(writer, serializer) {}

  /// Adds an injector; injectors run in the order added. Bearer tokens are removed after them.
  void add_header_injector(HeaderInjector injector) { appender_.add(std::move(injector)); }

  /// The key of events that name none (unset: the event name). The unit of work sets it to the
  /// id of the aggregate whose events it is writing.
  void set_default_partition_key(std::optional<std::string> key) { appender_.set_default_key(std::move(key)); }
  /// The current default key.
  [[nodiscard]] const std::optional<std::string>& default_partition_key() const noexcept {
    return appender_.default_key();
  }

  /// Appends `event` under its key (see set_default_partition_key and PartitionKeyed).
  void send(const AbstractIntegrationEvent& event) override { appender_.append(event, std::nullopt); }
  /// Appends `event` under `partition_key`, whatever the event says.
  void send(const AbstractIntegrationEvent& event, std::string_view partition_key) {
    appender_.append(event, partition_key);
  }

private:
  detail::OutboxAppender appender_;
};

/// OutboxEventBus for coroutine publishers. The append (a local write on the caller's
/// connection) runs when the returned awaitable is awaited and never suspends; the event must
/// live until then (or use the shared_ptr overload).
template <class Awaitable = Task<>>
class AsyncOutboxEventBus final : public IAsyncEventBus<Awaitable> {
public:
  /// A bus writing through `writer`, serializing with `serializer`; both must outlive it.
  AsyncOutboxEventBus(IOutboxWriter& writer, const IEventSerializer& serializer) noexcept
      : appender_(writer, serializer) {}

  /// Adds an injector; injectors run in the order added. Bearer tokens are removed after them.
  void add_header_injector(HeaderInjector injector) { appender_.add(std::move(injector)); }
  /// See OutboxEventBus::set_default_partition_key.
  void set_default_partition_key(std::optional<std::string> key) { appender_.set_default_key(std::move(key)); }

  using IAsyncEventBus<Awaitable>::send;  // the shared_ptr overload

  Awaitable send(const AbstractIntegrationEvent& event) override {
    appender_.append(event, std::nullopt);
    co_return;
  }

private:
  detail::OutboxAppender appender_;
};

}  // namespace spakky::event
