#pragma once
/// @file
/// What TransactionalEventPublishing and AsyncTransactionalEventPublishing share: the units of
/// work open on a collector (a nested one joins the outermost), and the publishing of the
/// collected aggregates' events in rounds until nothing is pending, each event exactly once.

#include <spakky/event/aggregate.hpp>
#include <spakky/event/detail/escape.hpp>
#include <spakky/event/detail/lean_memory.hpp>
#include <spakky/event/detail/lean_std.hpp>
#include <spakky/event/error.hpp>
#include <spakky/event/event.hpp>

#include <cstddef>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace spakky::event {

/// How many rounds one after_returning() publishes before it gives up: round 1 publishes what
/// the unit of work raised, round n + 1 what the handlers of round n added or collected.
inline constexpr std::size_t max_publishing_rounds = 64;

/// Publishing a unit of work's events did not settle within max_publishing_rounds rounds:
/// handlers keep raising events (say, one that adds an event on every publish). The events not
/// published stay pending on their aggregates.
class PublishingRoundsExceededError : public EventError {
public:
  /// Says how many rounds ran and names the next event that was still pending (escaped).
  PublishingRoundsExceededError(std::size_t rounds, std::string_view next_event_name)
      : EventError("publishing did not settle after " + std::to_string(rounds) +
                   " rounds: handlers keep raising events (next: '" + detail::escape_for_log(next_event_name) +
                   "')") {}
};

namespace detail {

/// The units of work open on a collector. begin() when one starts, returned() when it has
/// returned normally, end() in every case; TransactionalEventPublishing's before(),
/// after_returning() and after().
struct UnitOfWork {
  static void begin(AggregateCollector& collector) {
    collector.open_units_.push_back({collector.aggregates_.size(), false});
  }

  /// Marks the innermost unit as returned. True if it is the one to publish: the outermost,
  /// and not re-entered from a handler while the outermost publishes. A nested unit joins the
  /// outermost: what it collected is published with the rest.
  static bool returned(AggregateCollector& collector) noexcept {
    if (!collector.open_units_.empty()) collector.open_units_.back().returned = true;
    return !collector.publishing_ && collector.open_units_.size() <= 1;
  }

  /// A nested unit that did not return forgets what it collected, as a failed unit of work
  /// does; the outermost (or a caller of after() alone, outside any publishing) clears the
  /// collector.
  static void end(AggregateCollector& collector) noexcept {
    auto& aggregates = collector.aggregates_;
    if (!collector.open_units_.empty()) {
      const AggregateCollector::OpenUnit unit = collector.open_units_.back();
      collector.open_units_.pop_back();
      if (!unit.returned && unit.mark < aggregates.size()) {
        aggregates.erase(aggregates.begin() + static_cast<std::ptrdiff_t>(unit.mark), aggregates.end());
      }
    }
    if (collector.open_units_.empty() && !collector.publishing_) aggregates.clear();
  }
};

/// begin() now, end() when it goes (also when a suspended coroutine is destroyed).
class UnitOfWorkScope {
public:
  explicit UnitOfWorkScope(AggregateCollector& collector) : collector_(collector) { UnitOfWork::begin(collector); }
  ~UnitOfWorkScope() { UnitOfWork::end(collector_); }
  UnitOfWorkScope(const UnitOfWorkScope&) = delete;
  UnitOfWorkScope& operator=(const UnitOfWorkScope&) = delete;

private:
  AggregateCollector& collector_;
};

/// The publishing loop of the outermost after_returning(), one event at a time:
///
///     PublishingRounds rounds(collector);
///     while (auto event = rounds.next()) publish(*event);   // or co_await
///
/// Each round takes every event pending when it starts, aggregate by aggregate in collection
/// order, each aggregate's events in the order added; what handlers add or collect meanwhile
/// waits for the next round. next() marks the event it returns in flight (no longer pending,
/// so that nobody publishes it twice) and removes the previous one from its aggregate: a call
/// to next() means the previous publish returned. An event removed by a handler before its
/// turn is skipped. If the loop ends otherwise (a publish threw, the coroutine was destroyed),
/// the event in flight is pending again, where it was.
class PublishingRounds {
public:
  explicit PublishingRounds(AggregateCollector& collector) noexcept : collector_(collector) {
    collector_.publishing_ = true;
  }
  ~PublishingRounds() {
    if (in_flight_.event) settle(in_flight_, false);
    collector_.publishing_ = false;
  }
  PublishingRounds(const PublishingRounds&) = delete;
  PublishingRounds& operator=(const PublishingRounds&) = delete;

  /// The next event to publish, or null once nothing is pending. Throws
  /// PublishingRoundsExceededError instead of starting one round too many.
  std::shared_ptr<const AbstractDomainEvent> next() {
    if (in_flight_.event) settle(std::exchange(in_flight_, {}), true);
    for (;;) {
      while (position_ < round_.size()) {
        Pending& candidate = round_[position_++];
        auto& entries = candidate.aggregate->events_;
        const auto entry = std::find_if(entries.begin(), entries.end(), [&](const auto& e) {
          return !e.in_flight && e.event == candidate.event;
        });
        if (entry == entries.end()) continue;  // removed meanwhile: not published
        entry->in_flight = true;
        in_flight_ = std::move(candidate);
        return in_flight_.event;
      }
      start_round();
      if (round_.empty()) return nullptr;
      if (++rounds_ > max_publishing_rounds) {
        throw PublishingRoundsExceededError(max_publishing_rounds, round_.front().event->event_name());
      }
    }
  }

private:
  struct Pending {
    AbstractAggregateRoot* aggregate = nullptr;
    std::shared_ptr<const AbstractDomainEvent> event;  // owned: its address stays its identity
  };

  void start_round() {
    round_.clear();
    position_ = 0;
    for (AbstractAggregateRoot* aggregate : collector_.aggregates_) {
      for (const auto& entry : aggregate->events_) {
        if (!entry.in_flight) round_.push_back({aggregate, entry.event});
      }
    }
  }

  /// Published: off its aggregate; not published: pending again, in its place.
  static void settle(const Pending& pending, bool published) noexcept {
    auto& entries = pending.aggregate->events_;
    const auto entry = std::find_if(entries.begin(), entries.end(), [&](const auto& e) {
      return e.in_flight && e.event == pending.event;
    });
    if (entry == entries.end()) return;
    if (published) {
      entries.erase(entry);
    } else {
      entry->in_flight = false;
    }
  }

  AggregateCollector& collector_;
  std::vector<Pending> round_;
  std::size_t position_ = 0;
  std::size_t rounds_ = 0;
  Pending in_flight_;
};

}  // namespace detail
}  // namespace spakky::event
