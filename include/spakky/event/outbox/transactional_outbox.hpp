#pragma once
/// @file
/// TransactionalOutbox and AsyncTransactionalOutbox: units of work on the application's own
/// transaction with a transactional outbox. Inside the transaction, before COMMIT, the
/// integration events the collected aggregates raised (IntegrationEventSource) are written to
/// the outbox through an OutboxEventBus on the same connection, so they commit or roll back
/// with the data; after COMMIT the domain events are dispatched in process exactly as
/// TransactionalEventPublishing does, and `on_commit` runs (pass `[&] { relay.notify(); }`
/// to have a relay in this process send at once).
///
/// **Example**
/// @code
/// spakky::event::SqliteOutboxWriter writer(db);
/// spakky::event::OutboxEventBus outbox(writer, serializer);
/// spakky::event::TransactionalOutbox uow(collector, publisher, outbox, [&] { relay.notify(); });
/// spakky::event::SqliteTransaction transaction(db);
/// uow.run(transaction, [&] {
///   Order& order = orders.place("o-1");   // add_event(OrderCreated), add_integration_event(OrderPlaced)
///   collector.collect(order);
/// });   // COMMIT with OrderPlaced in the outbox; then OrderCreated is dispatched
/// @endcode
///
/// Integration events may also be sent directly inside the body with `outbox.send(event, key)`:
/// the transaction is open there. A run() nested in a running body joins its transaction
/// (no BEGIN/COMMIT of its own); one started by a domain handler after COMMIT has its own.
/// Not thread-safe: one per connection, like the transaction it drives.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/aspects/async_transactional_event_publishing.hpp>
#include <spakky/event/aspects/transactional_event_publishing.hpp>
#include <spakky/event/outbox/integration_event_source.hpp>
#include <spakky/event/outbox/outbox_event_bus.hpp>
#include <spakky/event/task.hpp>

#include <concepts>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <type_traits>
#include <utility>
#include <vector>

namespace spakky::event {

/// The application's transaction, as a unit of work drives it: begin() opens it, commit()
/// commits it (throwing if it could not), rollback() rolls it back and never throws.
template <class T>
concept TransactionControl = requires(T& t) {
  t.begin();
  t.commit();
  { t.rollback() } noexcept;
};

namespace detail {

/// Writes the pending integration events of every collected aggregate to the outbox (in
/// collection order, each aggregate's in the order added, keyed by its id), and returns the
/// sources written, to be cleared once the transaction committed.
inline std::vector<IntegrationEventSource*> write_integration_events(AggregateCollector& collector, OutboxEventBus& bus) {
  std::vector<IntegrationEventSource*> written;
  const auto previous_key = bus.default_partition_key();
  struct RestoreKey {
    OutboxEventBus& bus;
    const std::optional<std::string>& key;
    ~RestoreKey() { bus.set_default_partition_key(key); }
  } restore{bus, previous_key};
  for (AbstractAggregateRoot* aggregate : collector.all()) {
    auto* source = dynamic_cast<IntegrationEventSource*>(aggregate);
    if (source == nullptr || source->integration_events().empty()) continue;
    bus.set_default_partition_key(source->aggregate_id());
    for (const auto& event : source->integration_events()) bus.send(*event);
    written.push_back(source);
  }
  return written;
}

/// An open transaction: begun at construction, rolled back at destruction unless committed
/// (also when a suspended coroutine holding it is destroyed, or COMMIT itself failed).
template <TransactionControl Tx>
class OpenTransaction {
public:
  explicit OpenTransaction(Tx& transaction) : transaction_(&transaction) { transaction.begin(); }
  OpenTransaction(const OpenTransaction&) = delete;
  OpenTransaction& operator=(const OpenTransaction&) = delete;
  ~OpenTransaction() {
    if (transaction_ != nullptr) transaction_->rollback();
  }
  void commit() {
    transaction_->commit();
    transaction_ = nullptr;
  }

private:
  Tx* transaction_;
};

/// Counts a unit of work as running while it lives.
class RunningScope {
public:
  explicit RunningScope(std::size_t& depth) noexcept : depth_(depth) { ++depth_; }
  RunningScope(const RunningScope&) = delete;
  RunningScope& operator=(const RunningScope&) = delete;
  ~RunningScope() { --depth_; }

private:
  std::size_t& depth_;
};

}  // namespace detail

/// Runs units of work in the application's transaction with an outbox (see the file comment).
class TransactionalOutbox {
public:
  /// `publisher` dispatches the domain events after COMMIT; `bus` writes integration events on
  /// the transaction's connection; `on_commit` runs after each COMMIT. All must outlive it.
  TransactionalOutbox(AggregateCollector& collector, IEventPublisher& publisher, OutboxEventBus& bus,
                      std::function<void()> on_commit = {})
      : collector_(collector), publishing_(collector, publisher), bus_(bus), on_commit_(std::move(on_commit)) {}

  /// BEGIN; `unit_of_work()`; the collected aggregates' integration events into the outbox;
  /// COMMIT; then on_commit and the domain events. On an exception (from the body, a
  /// serializer that refuses an event, the outbox or COMMIT) rolls back, publishes nothing,
  /// leaves the events on their aggregates and rethrows. Returns the body's result.
  template <TransactionControl Tx, class F>
  decltype(auto) run(Tx& transaction, F&& unit_of_work) {
    if (depth_ > 0) return publishing_.run(std::forward<F>(unit_of_work));  // joins the open transaction
    using R = std::invoke_result_t<F&&>;
    publishing_.before();
    struct End {
      TransactionalOutbox& self;
      ~End() { self.publishing_.after(); }
    } end{*this};
    std::vector<IntegrationEventSource*> written;
    std::optional<std::conditional_t<std::is_void_v<R>, char, std::remove_reference_t<R>*>> result_pointer;
    [[maybe_unused]] std::optional<std::conditional_t<std::is_void_v<R> || std::is_reference_v<R>, char, R>> value;
    {
      const detail::RunningScope running(depth_);
      detail::OpenTransaction<Tx> open(transaction);
      if constexpr (std::is_void_v<R>) {
        std::invoke(std::forward<F>(unit_of_work));
      } else if constexpr (std::is_reference_v<R>) {
        result_pointer = &std::invoke(std::forward<F>(unit_of_work));
      } else {
        value.emplace(std::invoke(std::forward<F>(unit_of_work)));
      }
      written = detail::write_integration_events(collector_, bus_);
      open.commit();
    }
    for (IntegrationEventSource* source : written) source->clear_integration_events();
    if (on_commit_) on_commit_();
    publishing_.after_returning();
    if constexpr (std::is_void_v<R>) {
      return;
    } else if constexpr (std::is_reference_v<R>) {
      return static_cast<R>(**result_pointer);
    } else {
      return R(std::move(*value));
    }
  }

private:
  AggregateCollector& collector_;
  TransactionalEventPublishing publishing_;
  OutboxEventBus& bus_;
  std::function<void()> on_commit_;
  std::size_t depth_ = 0;
};

/// TransactionalOutbox for coroutine units of work: the body is awaited inside the
/// transaction, the domain events are published through an IAsyncEventPublisher after COMMIT.
/// The transaction itself and the outbox writes are synchronous (local database calls).
template <class Awaitable = Task<>>
class AsyncTransactionalOutbox {
public:
  /// See TransactionalOutbox's constructor.
  AsyncTransactionalOutbox(AggregateCollector& collector, IAsyncEventPublisher<Awaitable>& publisher,
                           OutboxEventBus& bus, std::function<void()> on_commit = {})
      : collector_(collector), publishing_(collector, publisher), bus_(bus), on_commit_(std::move(on_commit)) {}

  /// As TransactionalOutbox::run, awaiting `unit_of_work()` (an awaitable of the same
  /// coroutine family yielding a value or void). `unit_of_work` and `transaction` must live
  /// until the returned awaitable completes.
  template <TransactionControl Tx, class F>
  auto run(Tx& transaction, F unit_of_work)
      -> rebind_awaitable_t<Awaitable, typename std::invoke_result_t<F&>::value_type> {
    using R = typename std::invoke_result_t<F&>::value_type;
    static_assert(!std::is_reference_v<R>, "AsyncTransactionalOutbox: return a value, not a reference");
    if (depth_ > 0) {  // joins the open transaction
      if constexpr (std::is_void_v<R>) {
        co_await publishing_.run(std::move(unit_of_work));
        co_return;
      } else {
        co_return co_await publishing_.run(std::move(unit_of_work));
      }
    }
    publishing_.before();
    struct End {
      AsyncTransactionalOutbox& self;
      ~End() { self.publishing_.after(); }
    } end{*this};
    std::vector<IntegrationEventSource*> written;
    [[maybe_unused]] std::optional<std::conditional_t<std::is_void_v<R>, char, R>> value;
    {
      const detail::RunningScope running(depth_);
      detail::OpenTransaction<Tx> open(transaction);
      if constexpr (std::is_void_v<R>) {
        co_await unit_of_work();
      } else {
        value.emplace(co_await unit_of_work());
      }
      written = detail::write_integration_events(collector_, bus_);
      open.commit();
    }
    for (IntegrationEventSource* source : written) source->clear_integration_events();
    if (on_commit_) on_commit_();
    co_await publishing_.after_returning();
    if constexpr (!std::is_void_v<R>) co_return std::move(*value);
  }

private:
  AggregateCollector& collector_;
  AsyncTransactionalEventPublishing<Awaitable> publishing_;
  OutboxEventBus& bus_;
  std::function<void()> on_commit_;
  std::size_t depth_ = 0;
};

}  // namespace spakky::event
