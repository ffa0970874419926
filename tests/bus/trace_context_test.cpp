// The W3C traceparent injector: fed from the user's tracing, applied by
// DirectEventBus and AsyncDirectEventBus alike; invalid contexts write nothing; a consumer
// reads the context back.
#include "support/async_recording_transport.hpp"
#include "support/recording_transport.hpp"
#include "support/test_serializer.hpp"

#include <spakky/event/bus/async_direct_event_bus.hpp>
#include <spakky/event/bus/direct_event_bus.hpp>
#include <spakky/event/bus/trace_context.hpp>
#include <spakky/event/task.hpp>

#include <catch2/catch.hpp>

#include <optional>
#include <string>
#include <utility>

namespace trace_test {

namespace ev = spakky::event;
using test_support::AsyncRecordingTransport;
using test_support::RecordingTransport;
using test_support::TestSerializer;

struct OrderPlaced final : ev::AbstractIntegrationEvent {
  explicit OrderPlaced(std::string id = "o-1") : order_id(std::move(id)) {}
  std::string order_id;
};

TestSerializer make_serializer() {
  TestSerializer serializer;
  serializer.add<OrderPlaced>([](const OrderPlaced& e) { return e.order_id; });
  return serializer;
}

constexpr const char* kTrace = "4bf92f3577b34da6a3ce929d0e0e4736";
constexpr const char* kSpan = "00f067aa0ba902b7";

/// Stands in for the application's tracer: whatever context it holds now.
struct FakeTracer {
  std::optional<ev::TraceContext> current;
  int calls = 0;
  ev::TraceContextSource source() {
    return [this] {
      ++calls;
      return current;
    };
  }
};

}  // namespace trace_test

using namespace trace_test;

TEST_CASE("format_traceparent writes version 00, lower-case ids and two-digit flags", "[trace]") {
  CHECK(ev::format_traceparent({kTrace, kSpan, 1, {}}) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
  CHECK(ev::format_traceparent({kTrace, kSpan, 0, {}}) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-00");
  CHECK(ev::format_traceparent({kTrace, kSpan, 0xA3, {}}) == "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-a3");
  // Upper-case input from a tracer is written in lower case, as the W3C format requires.
  CHECK(ev::format_traceparent({"4BF92F3577B34DA6A3CE929D0E0E4736", "00F067AA0BA902B7", 1, {}}) ==
        "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01");
}

TEST_CASE("invalid ids are never written: all zero, wrong length, not hex", "[trace]") {
  const std::string zero_trace(32, '0');
  const std::string zero_span(16, '0');
  for (const auto& [trace, span] : std::initializer_list<std::pair<std::string, std::string>>{
           {zero_trace, kSpan},
           {kTrace, zero_span},
           {std::string(kTrace).substr(1), kSpan},
           {std::string(kTrace) + "0", kSpan},
           {kTrace, std::string(kSpan).substr(1)},
           {kTrace, std::string(kSpan) + "0"},
           {"4bf92f3577b34da6a3ce929d0e0e473g", kSpan},
           {kTrace, "00f067aa0ba902b-"},
           {"", ""},
       }) {
    INFO(trace << " / " << span);
    CHECK_FALSE(ev::format_traceparent({trace, span, 1, {}}).has_value());
  }
}

TEST_CASE("DirectEventBus writes traceparent and tracestate from the user's tracer", "[trace]") {
  RecordingTransport transport;
  const TestSerializer serializer = make_serializer();
  ev::DirectEventBus bus(transport, serializer);
  FakeTracer tracer;
  bus.add_header_injector(ev::trace_context_injector(tracer.source()));

  tracer.current = ev::TraceContext{kTrace, kSpan, 1, "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"};
  bus.send(OrderPlaced("o-1"));
  tracer.current = ev::TraceContext{kTrace, "b7ad6b7169203331", 0, {}};
  bus.send(OrderPlaced("o-2"));
  tracer.current.reset();  // no trace now: no headers
  bus.send(OrderPlaced("o-3"));
  tracer.current = ev::TraceContext{std::string(32, '0'), kSpan, 1, "congo=x"};  // invalid: nothing at all
  bus.send(OrderPlaced("o-4"));
  tracer.current = ev::TraceContext{kTrace, kSpan, 1, "bad\nstate"};  // a tracestate that cannot be a header
  bus.send(OrderPlaced("o-5"));

  const auto sent = transport.sent();
  REQUIRE(sent.size() == 5);
  CHECK(tracer.calls == 5);
  CHECK(sent[0].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                                       {"tracestate", "congo=t61rcWkgMzE,rojo=00f067aa0ba902b7"}});
  CHECK(sent[1].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-b7ad6b7169203331-00"}});
  CHECK(sent[2].headers.empty());
  CHECK(sent[3].headers.empty());
  CHECK(sent[4].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
}

TEST_CASE("the injector runs with the bus's other injectors, and bearer tokens are still removed", "[trace]") {
  RecordingTransport transport;
  const TestSerializer serializer = make_serializer();
  ev::DirectEventBus bus(transport, serializer);
  bus.add_header_injector([](const ev::AbstractIntegrationEvent&, ev::Headers& headers) {
    headers["tenant"] = "acme";
    headers["Authorization"] = "Bearer secret";
  });
  bus.add_header_injector(ev::trace_context_injector([] { return std::optional<ev::TraceContext>({kTrace, kSpan, 1, {}}); }));
  bus.send(OrderPlaced());
  const auto sent = transport.sent();
  REQUIRE(sent.size() == 1);
  CHECK(sent[0].headers == ev::Headers{{"tenant", "acme"},
                                       {"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"}});
}

TEST_CASE("an empty source writes nothing", "[trace]") {
  RecordingTransport transport;
  const TestSerializer serializer = make_serializer();
  ev::DirectEventBus bus(transport, serializer);
  bus.add_header_injector(ev::trace_context_injector({}));
  bus.send(OrderPlaced());
  REQUIRE(transport.sent().size() == 1);
  CHECK(transport.sent()[0].headers.empty());
}

TEST_CASE("AsyncDirectEventBus writes the same headers", "[trace]") {
  AsyncRecordingTransport transport;
  const TestSerializer serializer = make_serializer();
  ev::AsyncDirectEventBus<> bus(transport, serializer);
  FakeTracer tracer;
  bus.add_header_injector(ev::trace_context_injector(tracer.source()));

  tracer.current = ev::TraceContext{kTrace, kSpan, 1, "rojo=00f067aa0ba902b7"};
  const OrderPlaced first("o-1");
  ev::sync_wait(bus.send(first));
  tracer.current = ev::TraceContext{kTrace, "0000000000000000", 1, {}};
  const OrderPlaced second("o-2");
  ev::sync_wait(bus.send(second));

  const auto sent = transport.sent();
  REQUIRE(sent.size() == 2);
  CHECK(sent[0].headers == ev::Headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                                       {"tracestate", "rojo=00f067aa0ba902b7"}});
  CHECK(sent[1].headers.empty());
}

TEST_CASE("a consumer reads the trace context back from the headers", "[trace]") {
  const ev::Headers headers{{"traceparent", "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"},
                            {"tracestate", "rojo=00f067aa0ba902b7"}};
  const auto context = ev::trace_context_from(headers);
  REQUIRE(context.has_value());
  CHECK(*context == ev::TraceContext{kTrace, kSpan, 1, "rojo=00f067aa0ba902b7"});
  CHECK(context->sampled());

  CHECK_FALSE(ev::trace_context_from({}).has_value());
  // Upper case, all-zero ids, version ff, a short or a long version-00 value: not valid.
  CHECK_FALSE(ev::parse_traceparent("00-4BF92F3577B34DA6A3CE929D0E0E4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(ev::parse_traceparent("00-00000000000000000000000000000000-00f067aa0ba902b7-01"));
  CHECK_FALSE(ev::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-0000000000000000-01"));
  CHECK_FALSE(ev::parse_traceparent("ff-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01"));
  CHECK_FALSE(ev::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0"));
  CHECK_FALSE(ev::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-x"));
  CHECK_FALSE(ev::parse_traceparent("00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-0g"));
  // A later version is read by its first four fields.
  CHECK(ev::parse_traceparent("01-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01-extra").has_value());
  // What the injector writes, the parser reads.
  const ev::TraceContext original{kTrace, kSpan, 0, {}};
  CHECK(ev::parse_traceparent(*ev::format_traceparent(original)) == original);
}
