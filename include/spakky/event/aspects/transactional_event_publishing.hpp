#pragma once
/// @file
/// TransactionalEventPublishing: publishes the domain events of the aggregates a unit of work
/// collected, once it has succeeded (the seed's aspect, without AOP).

#include <spakky/event/aggregate.hpp>
#include <spakky/event/aspects/unit_of_work.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/event_publisher.hpp>

#include <type_traits>
#include <utility>

namespace spakky::event {

/// Runs units of work and publishes their aggregates' events when they return normally.
///
/// **Example**
/// @code
/// TransactionalEventPublishing publishing(collector, publisher);
/// publishing.run([&] {
///   Order order = Order::create(...);
///   collector.collect(order);
///   repository.save(order);
/// });   // OrderCreated is published here, only if the lambda returned
/// @endcode
///
/// **Exactly once.** Every event of a unit of work that returned is published once, including
/// those its handlers raise: publishing goes on in rounds until nothing is pending (round 1:
/// the events pending on the collected aggregates, in collection order, then the order added;
/// round n + 1: what the handlers of round n added to collected aggregates or collected). Each
/// event leaves its aggregate as soon as its publish returned, so a publish that throws later
/// leaves only the events not yet published pending (the failed one included), and a retry
/// publishes nothing twice. More than max_publishing_rounds rounds (a handler that raises an
/// event on every publish) throw PublishingRoundsExceededError, the rest staying pending.
///
/// **Nesting.** A unit of work started on a collector that already has one open (from inside
/// it, or from a handler while its events are published) joins it: it publishes nothing
/// itself, and what it collects is published by the outermost one (in the same
/// after_returning() when it ran from a handler). A nested unit of work that throws forgets the
/// aggregates it collected (their events stay pending) and its exception propagates as usual.
/// This holds across the synchronous and the asynchronous class sharing a collector. The
/// collector serves one unit of work (and its nested ones) at a time: units of work running
/// side by side (on two threads, or interleaved coroutines) need a collector each.
///
/// With your own transaction wrapper, call before() when it begins, after_returning() once
/// it committed and after() in every case (see examples/sqlite_transaction.cpp). A wrapper
/// that is never nested may leave out before(); without it, a wrapper re-entered from a
/// handler still joins the publishing in progress, but a failed one cannot forget what it
/// collected.
class TransactionalEventPublishing {
public:
  /// Publishes what `collector`'s aggregates raise through `publisher`; both must outlive it.
  TransactionalEventPublishing(AggregateCollector& collector, IEventPublisher& publisher) noexcept
      : collector_(collector), publisher_(publisher) {}

  /// Runs `unit_of_work`; on normal return publishes the events of every collected aggregate
  /// (see the class comment) and clears the collector; on an exception publishes nothing,
  /// clears the collector and rethrows. Nested on an open unit of work, it joins that one.
  template <class F>
  decltype(auto) run(F&& unit_of_work) {
    const detail::UnitOfWorkScope scope(collector_);  // after() in every case
    if constexpr (std::is_void_v<std::invoke_result_t<F&&>>) {
      std::forward<F>(unit_of_work)();
      after_returning();
    } else {
      decltype(auto) result = std::forward<F>(unit_of_work)();
      after_returning();
      if constexpr (std::is_rvalue_reference_v<decltype(result)>) {
        return std::move(result);  // a named T&& is an lvalue: give back the rvalue it was
      } else {
        return result;
      }
    }
  }

  /// A unit of work begins (for your own wrapper; run() calls it).
  void before() { detail::UnitOfWork::begin(collector_); }

  /// The unit of work returned: publishes until nothing is pending (see the class comment),
  /// or, nested, leaves that to the outermost unit of work. If a publish throws, the
  /// exception propagates and the events not yet published stay on their aggregates.
  void after_returning() {
    if (!detail::UnitOfWork::returned(collector_)) return;
    detail::PublishingRounds rounds(collector_);
    while (const auto event = rounds.next()) publisher_.publish(*event);
  }

  /// The unit of work ended, successfully or not: clears the collector (nested: forgets what
  /// a unit of work that did not return collected).
  void after() noexcept { detail::UnitOfWork::end(collector_); }

private:
  AggregateCollector& collector_;
  IEventPublisher& publisher_;
};

}  // namespace spakky::event
