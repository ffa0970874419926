#pragma once
// Records what the library logs (spakky/event/observability/log_sink.hpp) for the lifetime
// of a LogCapture, then puts the default sink and threshold back.

#include <spakky/event/observability/log_sink.hpp>

#include <algorithm>
#include <cstddef>
#include <mutex>
#include <string>
#include <vector>

namespace test_support {

/// One record as the sink saw it, copied.
struct CapturedLog {
  spakky::event::LogLevel level;
  std::string component;
  std::string message;
};

class LogCapture {
public:
  explicit LogCapture(spakky::event::LogLevel threshold = spakky::event::LogLevel::debug) {
    spakky::event::set_log_level(threshold);
    spakky::event::set_log_sink([this](const spakky::event::LogRecord& record) {
      const std::lock_guard lock(mutex_);
      records_.push_back({record.level, std::string(record.component), std::string(record.message)});
    });
  }
  LogCapture(const LogCapture&) = delete;
  LogCapture& operator=(const LogCapture&) = delete;
  ~LogCapture() {
    spakky::event::set_log_sink(nullptr);
    spakky::event::set_log_level(spakky::event::LogLevel::info);
  }

  /// Every record so far.
  std::vector<CapturedLog> records() const {
    const std::lock_guard lock(mutex_);
    return records_;
  }
  /// The records of `component` whose message contains `text`.
  std::vector<CapturedLog> matching(const std::string& component, const std::string& text) const {
    std::vector<CapturedLog> out;
    for (const CapturedLog& r : records()) {
      if (r.component == component && r.message.find(text) != std::string::npos) out.push_back(r);
    }
    return out;
  }
  std::size_t size() const {
    const std::lock_guard lock(mutex_);
    return records_.size();
  }

private:
  mutable std::mutex mutex_;
  std::vector<CapturedLog> records_;
};

}  // namespace test_support
