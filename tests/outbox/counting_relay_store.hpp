#pragma once
// An IOutboxRelayStore decorator for the relay-loop tests: counts the claims (how many passes
// the loop ran) and can make the next claims fail as a broken database would.

#include <spakky/event/outbox/outbox_error.hpp>
#include <spakky/event/outbox/relay_store.hpp>

#include <atomic>
#include <chrono>
#include <cstddef>
#include <cstdint>
#include <span>
#include <vector>

namespace outbox_test {

class CountingRelayStore final : public spakky::event::IOutboxRelayStore {
public:
  explicit CountingRelayStore(spakky::event::IOutboxRelayStore& inner) noexcept : inner_(inner) {}

  /// How many claims were made (each pass of a relay loop makes one).
  [[nodiscard]] std::size_t claims() const noexcept { return claims_.load(); }
  /// The next `count` claims throw OutboxStoreError without reaching the database.
  void fail_next_claims(int count) noexcept { failing_.store(count); }

  std::vector<spakky::event::OutboxRow> claim(std::size_t max_rows) override {
    ++claims_;
    if (failing_.load() > 0) {
      --failing_;
      throw spakky::event::OutboxStoreError("cannot claim outbox rows", "the database went away");
    }
    return inner_.claim(max_rows);
  }
  void finish(std::span<const spakky::event::OutboxRow> rows, std::span<const spakky::event::RowResult> results,
              bool keep_sent) override {
    inner_.finish(rows, results, keep_sent);
  }
  void abandon() noexcept override { inner_.abandon(); }
  [[nodiscard]] bool claims_hold_nothing() const noexcept override { return inner_.claims_hold_nothing(); }
  std::size_t purge_sent(std::chrono::seconds older_than) override { return inner_.purge_sent(older_than); }
  std::vector<spakky::event::ParkedRow> parked() override { return inner_.parked(); }
  bool requeue(std::int64_t id) override { return inner_.requeue(id); }
  std::optional<std::size_t> unsent_count() override { return inner_.unsent_count(); }
  int notification_fd() noexcept override { return inner_.notification_fd(); }
  bool consume_notifications() override { return inner_.consume_notifications(); }

private:
  spakky::event::IOutboxRelayStore& inner_;
  std::atomic<std::size_t> claims_{0};
  std::atomic<int> failing_{0};
};

}  // namespace outbox_test
