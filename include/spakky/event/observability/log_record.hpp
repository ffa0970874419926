#pragma once
/// @file
/// The library's log as its code writes to it: levels, records, the threshold and write_log().
/// Light on purpose (no {fmt}, no std::function): the mediator's failure path includes it,
/// and every user of the mediator pays for what its headers include. The sink is installed
/// with `<spakky/event/observability/log_sink.hpp>`; the {fmt} front end is
/// `<spakky/event/observability/log.hpp>`.

#include <spakky/event/detail/lean_std.hpp>  // std::mutex, std::lock_guard

#include <atomic>
#include <cstdio>
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

/// The default sink: `spakky::event [warn] inmemory: <message>` and a newline on stderr, in
/// one call to the C library, which locks the stream (lines of concurrent records do not mix).
/// Never throws.
inline void write_log_to_stderr(const LogRecord& record) noexcept {
  const std::string_view level = to_string(record.level);
  std::fprintf(stderr, "spakky::event [%.*s] %.*s: %.*s\n", static_cast<int>(level.size()), level.data(),
               static_cast<int>(record.component.size()), record.component.data(),
               static_cast<int>(record.message.size()), record.message.data());
}

namespace detail {

// The threshold is read on every log call, so it lives apart from the sink, in a variable
// that needs no run-time initialisation. (An int, not a LogLevel: std::atomic<int> is
// instantiated by the mediator's headers already, a new instantiation costs every user.)
inline std::atomic<int> log_threshold{static_cast<int>(LogLevel::info)};

/// An installed sink with a reference count: the slot holds one reference, and so does every
/// write in progress, so that a sink replaced meanwhile lives until the last write returns.
class LogSinkBox {
public:
  LogSinkBox() = default;
  LogSinkBox(const LogSinkBox&) = delete;
  LogSinkBox& operator=(const LogSinkBox&) = delete;

  /// Writes one record; may throw (write_log catches it).
  virtual void write(const LogRecord& record) const = 0;
  void retain() noexcept { references_.fetch_add(1, std::memory_order_relaxed); }
  void release() noexcept {
    if (references_.fetch_sub(1, std::memory_order_acq_rel) == 1) delete this;
  }

protected:
  virtual ~LogSinkBox() = default;

private:
  std::atomic<unsigned> references_{1};  // unsigned: an instantiation the mediator has already
};

// The sink is read only when a record is written, so a mutex is fine. Constant-initialised and
// trivially destructible (libstdc++'s std::mutex is both), so that a log call from a static
// object's constructor or destructor still finds it.
struct LogSinkSlot {
  std::mutex mutex;
  LogSinkBox* sink = nullptr;  // null: write_log_to_stderr
};
inline constinit LogSinkSlot log_sink_slot_instance;
inline LogSinkSlot& log_sink_slot() noexcept { return log_sink_slot_instance; }

/// Installs `fresh` (taking its reference; null: stderr) and drops the slot's reference to the
/// sink it replaces.
inline void replace_log_sink(LogSinkBox* fresh) noexcept {
  LogSinkSlot& slot = log_sink_slot();
  LogSinkBox* old = nullptr;
  {
    const std::lock_guard lock(slot.mutex);
    old = slot.sink;
    slot.sink = fresh;
  }
  if (old != nullptr) old->release();
}

}  // namespace detail

/// Records below `threshold` are dropped before they are formatted; LogLevel::off silences
/// the library. The default is LogLevel::info.
inline void set_log_level(LogLevel threshold) noexcept {
  detail::log_threshold.store(static_cast<int>(threshold), std::memory_order_relaxed);
}

/// The current threshold (set_log_level).
[[nodiscard]] inline LogLevel log_level() noexcept {
  return static_cast<LogLevel>(detail::log_threshold.load(std::memory_order_relaxed));
}

/// True if a record of `level` would reach the sink: cheap, so callers test it before they
/// build a message.
[[nodiscard]] inline bool log_enabled(LogLevel level) noexcept {
  return level != LogLevel::off && static_cast<int>(level) >= detail::log_threshold.load(std::memory_order_relaxed);
}

/// Hands one record to the sink if its level is enabled. Never throws: a sink that throws
/// loses that record. `message` should be one line with outside text escaped
/// (detail::escape_for_log); the {fmt} front end `log()` does that for you.
inline void write_log(LogLevel level, std::string_view component, std::string_view message) noexcept {
  if (!log_enabled(level)) return;
  const LogRecord record{level, component, message};
  detail::LogSinkBox* sink = nullptr;
  {
    detail::LogSinkSlot& slot = detail::log_sink_slot();
    const std::lock_guard lock(slot.mutex);
    sink = slot.sink;
    if (sink != nullptr) sink->retain();
  }
  if (sink == nullptr) return write_log_to_stderr(record);
  try {
    sink->write(record);
  } catch (...) {
    // A sink that throws loses its record; the library goes on.
  }
  sink->release();
}

}  // namespace spakky::event
