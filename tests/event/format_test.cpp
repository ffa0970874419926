// {fmt} formatters (format.hpp): EventId as its canonical text, events as
// "Name{id=<uuid>, at=<timestamp>}", both honouring the string format spec.
#include <spakky/event/format.hpp>

#include <catch2/catch.hpp>

#include <fmt/format.h>

#include <chrono>
#include <string>

namespace format_test {

namespace ev = spakky::event;
using namespace std::chrono_literals;

struct OrderPlaced final : ev::AbstractDomainEvent {
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractDomainEvent(id, at) {}
  std::string order_id = "o-1";
};

struct NamedOrderPlaced final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.placed")
  NamedOrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
};

constexpr const char* id_text = "0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f";

ev::Timestamp sample_time(std::chrono::microseconds micros) {
  using namespace std::chrono;
  return ev::Timestamp{sys_days{2026y / 11 / 26}.time_since_epoch() + 10h + 50min + 57s + micros};
}

}  // namespace format_test

using namespace format_test;

TEST_CASE("fmt formats an EventId as its canonical text", "[format]") {
  const auto id = ev::EventId::generate();
  CHECK(fmt::format("{}", id) == id.to_string());
  CHECK(fmt::format("{}", ev::EventId{}) == "00000000-0000-0000-0000-000000000000");
  CHECK(fmt::format("{}", ev::EventId::parse(id_text)) == id_text);
  CHECK(fmt::to_string(id) == id.to_string());
  CHECK(fmt::format("id={}.", id) == "id=" + id.to_string() + ".");
}

TEST_CASE("fmt honours width, fill and alignment for an EventId", "[format]") {
  const auto id = ev::EventId::parse(id_text);
  const std::string text = id_text;
  CHECK(fmt::format("{:>40}", id) == "    " + text);
  CHECK(fmt::format("{:<40}", id) == text + "    ");
  CHECK(fmt::format("{:*^40}", id) == "**" + text + "**");
  CHECK(fmt::format("{:10}", id) == text);  // narrower than the text: not truncated
  CHECK(fmt::format("{:.8}", id) == "0b7c3f4e");
}

TEST_CASE("fmt formats an event as Name{id=..., at=...}", "[format]") {
  const auto id = ev::EventId::parse(id_text);

  const OrderPlaced event(id, sample_time(123456us));
  CHECK(fmt::format("{}", event) ==
        "OrderPlaced{id=0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f, at=2026-11-26T10:50:57.123456Z}");

  SECTION("whole seconds have no fraction") {
    const OrderPlaced whole(id, sample_time(0us));
    CHECK(fmt::format("{}", whole) ==
          "OrderPlaced{id=0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f, at=2026-11-26T10:50:57Z}");
  }
  SECTION("through a base reference, by the dynamic type's name") {
    const ev::AbstractEvent& base = event;
    CHECK(fmt::format("{}", base) == fmt::format("{}", event));
    const ev::AbstractDomainEvent& domain_base = event;
    CHECK(fmt::format("{}", domain_base) == fmt::format("{}", event));
  }
  SECTION("a named event uses its chosen name") {
    const NamedOrderPlaced named(id, sample_time(7us));
    CHECK(fmt::format("{}", named) ==
          "orders.placed{id=0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f, at=2026-11-26T10:50:57.000007Z}");
  }
  SECTION("a fresh event shows its own id and time") {
    const OrderPlaced fresh(ev::EventId::generate(), ev::now());
    CHECK(fmt::format("{}", fresh) == "OrderPlaced{id=" + fresh.event_id().to_string() +
                                          ", at=" + ev::detail::format_timestamp(fresh.timestamp()) + "}");
  }
  SECTION("width applies to the whole text") {
    const std::string plain = fmt::format("{}", event);
    CHECK(fmt::format("{:>100}", event) == std::string(100 - plain.size(), ' ') + plain);
  }
}
