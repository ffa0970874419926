#pragma once
/// @file
/// Installing the library's log sink: any callable taking a LogRecord, for the whole process
/// (stderr by default). Levels, records and the threshold are in log_record.hpp.
///
/// **Example**
/// @code
/// spakky::event::set_log_level(spakky::event::LogLevel::warn);
/// spakky::event::set_log_sink([](const spakky::event::LogRecord& r) { my_log(r.level, r.component, r.message); });
/// @endcode

#include <spakky/event/observability/log_record.hpp>

#include <functional>
#include <utility>

namespace spakky::event {

/// Receives the library's log records; may be called from any thread, also concurrently.
using LogSink = std::function<void(const LogRecord& record)>;

namespace detail {

/// A LogSink in the slot's reference-counted box.
class FunctionLogSink final : public LogSinkBox {
public:
  explicit FunctionLogSink(LogSink sink) : sink_(std::move(sink)) {}
  void write(const LogRecord& record) const override { sink_(record); }

private:
  LogSink sink_;
};

}  // namespace detail

/// Replaces the log sink of the process (of this module, when the library is built into
/// several shared libraries with hidden visibility: set it in each); an empty sink restores
/// the default, write_log_to_stderr. A record being written meanwhile goes to the old or the
/// new sink, and the old one is destroyed once no write uses it any more.
inline void set_log_sink(LogSink sink) {
  detail::replace_log_sink(sink ? new detail::FunctionLogSink(std::move(sink)) : nullptr);
}

}  // namespace spakky::event
