#pragma once
/// @file
/// AsyncTransactionalEventPublishing: TransactionalEventPublishing for coroutine units of work
/// and an IAsyncEventPublisher.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/task.hpp>

#include <exception>
#include <memory>
#include <optional>
#include <type_traits>
#include <utility>
#include <vector>

namespace spakky::event {

/// As TransactionalEventPublishing, awaiting the unit of work and each publish.
template <class Awaitable = Task<>>
class AsyncTransactionalEventPublishing {
public:
  AsyncTransactionalEventPublishing(AggregateCollector& collector, IAsyncEventPublisher<Awaitable>& publisher) noexcept
      : collector_(collector), publisher_(publisher) {}

  /// Awaits `unit_of_work()` (an awaitable of the same coroutine family, e.g. Task<R>); on
  /// normal completion awaits the publishing of the collected aggregates' events; clears the
  /// collector in every case; yields the unit of work's result. `unit_of_work` is taken by
  /// value: the returned awaitable may run after the caller's temporaries are gone.
  template <class F>
  auto run(F unit_of_work) -> rebind_awaitable_t<Awaitable, typename std::invoke_result_t<F&>::value_type> {
    using R = typename std::invoke_result_t<F&>::value_type;
    std::exception_ptr failure;
    if constexpr (std::is_void_v<R>) {
      try {
        co_await unit_of_work();
        co_await after_returning();
      } catch (...) {
        failure = std::current_exception();
      }
      after();
      if (failure) std::rethrow_exception(failure);
    } else if constexpr (std::is_reference_v<R>) {
      std::remove_reference_t<R>* result = nullptr;  // optional cannot hold a reference
      try {
        result = std::addressof(co_await unit_of_work());
        co_await after_returning();
      } catch (...) {
        failure = std::current_exception();
      }
      after();
      if (failure) std::rethrow_exception(failure);
      co_return static_cast<R>(*result);
    } else {
      std::optional<R> result;
      try {
        result.emplace(co_await unit_of_work());
        co_await after_returning();
      } catch (...) {
        failure = std::current_exception();
      }
      after();
      if (failure) std::rethrow_exception(failure);
      co_return std::move(*result);
    }
  }

  /// Publishes every collected aggregate's pending events (see TransactionalEventPublishing).
  Awaitable after_returning() {
    // A snapshot: a handler may collect more aggregates while we publish.
    const auto touched = collector_.all();
    const std::vector<AbstractAggregateRoot*> aggregates(touched.begin(), touched.end());
    for (AbstractAggregateRoot* aggregate : aggregates) {
      const auto events = aggregate->events();
      for (const auto& event : events) co_await publisher_.publish(*event);
      detail::remove_published(*aggregate, events);
    }
  }

  /// Clears the collector.
  void after() noexcept { collector_.clear(); }

private:
  AggregateCollector& collector_;
  IAsyncEventPublisher<Awaitable>& publisher_;
};

}  // namespace spakky::event
