#pragma once
/// @file
/// KeeperThread: keeps an AMQP connection alive while its owner does not read it.

#include <algorithm>
#include <atomic>
#include <chrono>
#include <condition_variable>
#include <mutex>
#include <thread>
#include <utility>

namespace spakky::event::detail::rabbitmq {

/// A thread that runs `tick` every quarter of the negotiated heartbeat interval (at least
/// every 50 ms) until stopped; `tick` reads what arrived on the connection, and librabbitmq
/// sends the heartbeats that are due on every read. With no heartbeat negotiated it idles.
class KeeperThread {
public:
  KeeperThread() = default;
  KeeperThread(const KeeperThread&) = delete;
  KeeperThread& operator=(const KeeperThread&) = delete;
  ~KeeperThread() { stop(); }

  /// A quarter of the negotiated heartbeat interval, in milliseconds (0: none negotiated).
  void set_period(int milliseconds) noexcept { period_ms_.store(milliseconds, std::memory_order_relaxed); }
  [[nodiscard]] int period() const noexcept { return period_ms_.load(std::memory_order_relaxed); }

  /// Starts the thread; no-op while it runs. It may be started again after stop().
  template <class Tick>
  void start(Tick tick) {
    if (thread_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      stop_ = false;
    }
    thread_ = std::thread([this, tick = std::move(tick)]() mutable { loop(tick); });
  }

  /// Stops the thread after its current tick and joins it; no-op if it does not run.
  void stop() noexcept {
    if (!thread_.joinable()) return;
    {
      const std::lock_guard lock(mutex_);
      stop_ = true;
    }
    wake_.notify_all();
    thread_.join();
  }

private:
  template <class Tick>
  void loop(Tick& tick) {
    std::unique_lock lock(mutex_);
    while (!stop_) {
      const int every = period();
      const auto wait = std::chrono::milliseconds(every > 0 ? std::max(every, 50) : 1000);
      wake_.wait_for(lock, wait, [&] { return stop_; });
      if (stop_) return;
      if (every <= 0) continue;
      lock.unlock();
      tick();
      lock.lock();
    }
  }

  std::thread thread_;
  std::mutex mutex_;
  std::condition_variable wake_;
  bool stop_ = false;  // guarded by mutex_
  std::atomic<int> period_ms_{0};
};

}  // namespace spakky::event::detail::rabbitmq
