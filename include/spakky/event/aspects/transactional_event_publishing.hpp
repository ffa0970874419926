#pragma once
/// @file
/// TransactionalEventPublishing: publishes the domain events of the aggregates a unit of work
/// collected, once it has succeeded (the seed's aspect, without AOP).

#include <spakky/event/aggregate.hpp>
#include <spakky/event/event_publisher.hpp>

#include <functional>
#include <type_traits>
#include <utility>
#include <vector>

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
/// With your own transaction wrapper, call after_returning() once the transaction committed
/// and after() in every case (see examples/sqlite_transaction.cpp).
class TransactionalEventPublishing {
public:
  TransactionalEventPublishing(AggregateCollector& collector, IEventPublisher& publisher) noexcept
      : collector_(collector), publisher_(publisher) {}

  /// Runs `unit_of_work`; on normal return publishes the events of every collected aggregate
  /// (collection order, then event order) and clears them; clears the collector in every
  /// case. On an exception nothing is published and the exception propagates.
  template <class F>
  decltype(auto) run(F&& unit_of_work) {
    struct ClearCollector {
      TransactionalEventPublishing& self;
      ~ClearCollector() { self.after(); }
    } clear{*this};
    if constexpr (std::is_void_v<std::invoke_result_t<F&&>>) {
      std::invoke(std::forward<F>(unit_of_work));
      after_returning();
    } else {
      decltype(auto) result = std::invoke(std::forward<F>(unit_of_work));
      after_returning();
      if constexpr (std::is_rvalue_reference_v<decltype(result)>) {
        return std::move(result);  // a named T&& is an lvalue: give back the rvalue it was
      } else {
        return result;
      }
    }
  }

  /// Publishes every collected aggregate's pending events, then removes them from the
  /// aggregate. If publishing throws, the events not yet published stay on their aggregates.
  void after_returning() {
    // A snapshot: a handler may collect more aggregates while we publish.
    const auto touched = collector_.all();
    const std::vector<AbstractAggregateRoot*> aggregates(touched.begin(), touched.end());
    for (AbstractAggregateRoot* aggregate : aggregates) {
      const auto events = aggregate->events();
      for (const auto& event : events) publisher_.publish(*event);
      detail::remove_published(*aggregate, events);
    }
  }

  /// Clears the collector (in every case, success or not).
  void after() noexcept { collector_.clear(); }

private:
  AggregateCollector& collector_;
  IEventPublisher& publisher_;
};

}  // namespace spakky::event
