// The library's log sent to spdlog: one sink adapter that maps the levels, and the library's
// threshold taken from the logger's, so that records spdlog would drop are not even
// formatted. Then a few things the library reports: a failing handler in the mediator, a
// message retried by a broker consumer and one it dead-letters.
//
// Build (besides spakky::event and spakky::event_json): spdlog (Debian: libspdlog-dev), e.g.
//   g++ -std=c++20 spdlog_logging.cpp $(pkg-config --cflags --libs spakky-event-json spdlog)

#include <spakky/event.hpp>
#include <spakky/event/inmemory/in_memory_transport.hpp>
#include <spakky/event/json.hpp>
#include <spakky/event/observability.hpp>

#include <spdlog/sinks/stdout_sinks.h>
#include <spdlog/spdlog.h>

#include <memory>
#include <stdexcept>
#include <string>
#include <utility>

namespace ev = spakky::event;

// --- the adapter: copy this part -----------------------------------------------------------

spdlog::level::level_enum to_spdlog(ev::LogLevel level) {
  switch (level) {
    case ev::LogLevel::debug: return spdlog::level::debug;
    case ev::LogLevel::info: return spdlog::level::info;
    case ev::LogLevel::warn: return spdlog::level::warn;
    case ev::LogLevel::error: return spdlog::level::err;
    case ev::LogLevel::off: break;
  }
  return spdlog::level::off;
}

ev::LogLevel from_spdlog(spdlog::level::level_enum level) {
  switch (level) {
    case spdlog::level::trace:
    case spdlog::level::debug: return ev::LogLevel::debug;
    case spdlog::level::info: return ev::LogLevel::info;
    case spdlog::level::warn: return ev::LogLevel::warn;
    case spdlog::level::err:
    case spdlog::level::critical: return ev::LogLevel::error;
    default: return ev::LogLevel::off;
  }
}

/// Sends spakky-event's log to `logger`, at the logger's level. The messages are one line each,
/// outside text in them (event names, reasons) already escaped.
void log_to_spdlog(std::shared_ptr<spdlog::logger> logger) {
  ev::set_log_level(from_spdlog(logger->level()));
  ev::set_log_sink([logger = std::move(logger)](const ev::LogRecord& record) {
    logger->log(to_spdlog(record.level), "{}: {}", record.component, record.message);
  });
}

// --- a few things worth logging ------------------------------------------------------------

struct PasswordReset final : ev::AbstractDomainEvent {
  explicit PasswordReset(std::string who) : user(std::move(who)) {}
  std::string user;
};

struct InvoiceIssued final : ev::AbstractIntegrationEvent {
  InvoiceIssued() = default;
  InvoiceIssued(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string invoice;
};
SPAKKY_EVENT_JSON_FIELDS(InvoiceIssued, invoice)

int main() {
  // A fixed pattern, without time stamps, so that the output can be checked.
  auto logger = spdlog::stdout_logger_st("spakky");
  logger->set_pattern("[%n] [%l] %v");
  logger->set_level(spdlog::level::info);
  log_to_spdlog(logger);

  // 1. A handler that throws: the mediator's default error handler logs it at error level.
  ev::EventMediator mediator;
  ev::ScopedSubscription mailer = mediator.register_handler([](const PasswordReset&) -> void {
    throw std::runtime_error("smtp: connection refused");
  });
  mediator.dispatch(PasswordReset("kim"));

  // 2. A broker consumer (here the in-memory one) retries a failing message, then
  //    dead-letters it.
  ev::JsonEventSerializer serializer;
  serializer.register_event<InvoiceIssued>();
  ev::InMemoryEventTransport transport;
  ev::InMemoryEventConsumer consumer(transport, serializer);
  ev::ScopedSubscription billing = consumer.register_handler([](const InvoiceIssued& e) -> void {
    if (e.invoice == "inv-2") throw std::runtime_error("ledger locked");
  });
  ev::DirectEventBus bus(transport, serializer);
  InvoiceIssued first;
  first.invoice = "inv-1";
  bus.send(first);  // handled: nothing to report at info
  InvoiceIssued second;
  second.invoice = "inv-2";
  bus.send(second);  // retried, then dead-lettered

  logger->info("done: {} dead letter(s)", consumer.dead_letters().size());
}
