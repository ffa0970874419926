#pragma once
/// @file
/// AsyncTransactionalEventPublishing: TransactionalEventPublishing for coroutine units of work
/// and an IAsyncEventPublisher.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/aspects/unit_of_work.hpp>
#include <spakky/event/async_event_publisher.hpp>
#include <spakky/event/task.hpp>

#include <type_traits>
#include <utility>

namespace spakky::event {

/// As TransactionalEventPublishing (exactly once, rounds, nesting: see there), awaiting the
/// unit of work and each publish. Its units of work share the collector's bookkeeping with the
/// synchronous class: either kind nested in the other joins it.
template <class Awaitable = Task<>>
class AsyncTransactionalEventPublishing {
public:
  /// Publishes what `collector`'s aggregates raise through `publisher`; both must outlive it.
  AsyncTransactionalEventPublishing(AggregateCollector& collector, IAsyncEventPublisher<Awaitable>& publisher) noexcept
      : collector_(collector), publisher_(publisher) {}

  /// Awaits `unit_of_work()` (an awaitable of the same coroutine family, e.g. Task<R>); on
  /// normal completion awaits the publishing of the collected aggregates' events; clears the
  /// collector in every case (also when the returned awaitable is destroyed unfinished);
  /// yields the unit of work's result. `unit_of_work` is taken by value: the returned
  /// awaitable may run after the caller's temporaries are gone.
  template <class F>
  auto run(F unit_of_work) -> rebind_awaitable_t<Awaitable, typename std::invoke_result_t<F&>::value_type> {
    using R = typename std::invoke_result_t<F&>::value_type;
    const detail::UnitOfWorkScope scope(collector_);  // after() in every case
    if constexpr (std::is_void_v<R>) {
      co_await unit_of_work();
      co_await after_returning();
    } else if constexpr (std::is_reference_v<R>) {
      R result = co_await unit_of_work();
      co_await after_returning();
      co_return static_cast<R>(result);
    } else {
      R result = co_await unit_of_work();
      co_await after_returning();
      co_return std::move(result);
    }
  }

  /// A unit of work begins (for your own wrapper; run() calls it).
  void before() { detail::UnitOfWork::begin(collector_); }

  /// The unit of work returned: publishes until nothing is pending, or, nested, leaves that to
  /// the outermost unit of work (see TransactionalEventPublishing::after_returning).
  Awaitable after_returning() {
    if (!detail::UnitOfWork::returned(collector_)) co_return;
    detail::PublishingRounds rounds(collector_);
    while (const auto event = rounds.next()) co_await publisher_.publish(*event);
  }

  /// The unit of work ended, successfully or not (see TransactionalEventPublishing::after).
  void after() noexcept { detail::UnitOfWork::end(collector_); }

private:
  AggregateCollector& collector_;
  IAsyncEventPublisher<Awaitable>& publisher_;
};

}  // namespace spakky::event
