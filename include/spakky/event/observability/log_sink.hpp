#pragma once
/// @file
/// The library's log: levels, one pluggable sink (stderr by default) and a threshold. No
/// {fmt} here, so the mediator's failure path can log without paying for it; the formatting
/// front end is `<spakky/event/observability/log.hpp>`.

#include <atomic>
#include <cstdio>
#include <functional>
#include <memory>
#include <mutex>
#include <string>
#include <string_view>

namespace spakky::event {

/// How serious a log record is. As a threshold, `off` silences the library's log.
enum class LogLevel : unsigned char {
  debug,  ///< progress nobody needs unless looking for a problem (a relay pass, a settled message)
  info,   ///< rare state changes (a consumer started or stopped, a connection came back)
  warn,   ///< something went wrong and is being handled (a retry, a lost connection)
  error,  ///< something went wrong for good (a handler failed, a message was dead-lettered)
  off,    ///< as a threshold: nothing is logged; never the level of a record
};

/// The level's name as the default sink writes it: "debug", "info", "warn", "error" or "off".
[[nodiscard]] constexpr std::string_view to_string(LogLevel level) noexcept {
  switch (level) {
    case LogLevel::debug: return "debug";
    case LogLevel::info: return "info";
    case LogLevel::warn: return "warn";
    case LogLevel::error: return "error";
    case LogLevel::off: break;
  }
  return "off";
}

/// One log record, handed to the sink; its views are valid only during that call.
struct LogRecord {
  LogLevel level = LogLevel::info;  ///< how serious it is (never LogLevel::off)
  std::string_view component;       ///< the part of the library: "mediator", "inmemory", "rabbitmq", "outbox", ...
  std::string_view message;         ///< one line without its newline; outside text in it is escaped
};

/// Receives the library's log records; may be called from any thread, also concurrently.
using LogSink = std::function<void(const LogRecord& record)>;

/// The default sink: `spakky::event [warn] inmemory: <message>` and a newline on stderr, in
/// one write per record (lines of concurrent records do not mix). Never throws.
inline void write_log_to_stderr(const LogRecord& record) noexcept {
  try {
    std::string line = "spakky::event [";
    line += to_string(record.level);
    line += "] ";
    line += record.component;
    line += ": ";
    line += record.message;
    line += '\n';
    std::fwrite(line.data(), 1, line.size(), stderr);
  } catch (...) {
    // Out of memory while logging: the record is lost, the caller goes on.
  }
}

namespace detail {

// The threshold is read on every log call, so it lives apart from the sink, in a variable
// that needs no run-time initialisation.
inline std::atomic<LogLevel> log_threshold{LogLevel::info};

// The sink is read only when a record is written, so a mutex is fine. Never destroyed, so that
// a log call from a static object's destructor still finds it.
struct LogSinkSlot {
  std::mutex mutex;
  std::shared_ptr<const LogSink> sink;  // null: write_log_to_stderr
};
inline LogSinkSlot& log_sink_slot() {
  static LogSinkSlot* const slot = new LogSinkSlot();
  return *slot;
}

}  // namespace detail

/// Replaces the log sink of the process (of this module, when the library is built into
/// several shared libraries with hidden visibility: set it in each); an empty sink restores
/// the default, write_log_to_stderr. Records being written meanwhile go to the old or the new sink.
inline void set_log_sink(LogSink sink) {
  auto fresh = sink ? std::make_shared<const LogSink>(std::move(sink)) : nullptr;
  detail::LogSinkSlot& slot = detail::log_sink_slot();
  const std::lock_guard lock(slot.mutex);
  slot.sink.swap(fresh);
}

/// Records below `threshold` are dropped before they are formatted; LogLevel::off silences
/// the library. The default is LogLevel::info.
inline void set_log_level(LogLevel threshold) noexcept {
  detail::log_threshold.store(threshold, std::memory_order_relaxed);
}

/// The current threshold (set_log_level).
[[nodiscard]] inline LogLevel log_level() noexcept { return detail::log_threshold.load(std::memory_order_relaxed); }

/// True if a record of `level` would reach the sink: cheap, so callers test it before they
/// build a message.
[[nodiscard]] inline bool log_enabled(LogLevel level) noexcept {
  return level != LogLevel::off && level >= detail::log_threshold.load(std::memory_order_relaxed);
}

/// Hands one record to the sink if its level is enabled. Never throws: a sink that throws
/// loses that record. `message` should be one line with outside text escaped
/// (detail::escape_for_log); the {fmt} front end `log()` does that for you.
inline void write_log(LogLevel level, std::string_view component, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  const LogRecord record{level, component, message};
  try {
    std::shared_ptr<const LogSink> sink;
    {
      detail::LogSinkSlot& slot = detail::log_sink_slot();
      const std::lock_guard lock(slot.mutex);
      sink = slot.sink;
    }
    if (sink) (*sink)(record);
    else write_log_to_stderr(record);
  } catch (...) {
    // A sink that throws loses its record; the library goes on.
  }
}

}  // namespace spakky::event
