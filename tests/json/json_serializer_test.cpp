// JsonEventSerializer: the exact bytes pydantic v2 writes for the same dataclass,
// the payloads pydantic writes read back to the same values, timestamps in every form Python
// writes, and every kind of bad input rejected as InvalidMessageError naming the event.
//
// The golden payloads below were written by pydantic 2.13 (TypeAdapter(...).dump_json) for
// the dataclasses given next to each C++ type.

#include <spakky/event/error.hpp>
#include <spakky/event/json.hpp>

#include <catch2/catch.hpp>

#include <chrono>
#include <cstdint>
#include <limits>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace json_test {

namespace ev = spakky::event;
using namespace std::chrono;

// @dataclass(frozen=True)
// class Address:
//     city: str
//     zip_code: str
struct Address {
  std::string city;
  std::string zip_code;
  friend bool operator==(const Address&, const Address&) = default;
};

// @dataclass(frozen=True, kw_only=True)
// class OrderPlaced(AbstractIntegrationEvent):
//     order_id: str
//     amount: float
//     quantity: int
//     express: bool
//     address: Address
//     tags: list[str]
//     coupon: Optional[str] = None
struct OrderPlaced final : ev::AbstractIntegrationEvent {
  OrderPlaced() = default;
  OrderPlaced(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
  double amount = 0;
  int quantity = 0;
  bool express = false;
  Address address;
  std::vector<std::string> tags;
  std::optional<std::string> coupon;
};

// class Shipment(AbstractIntegrationEvent):
//     count: int; big: int; ratio: float; sizes: list[int]; stock: dict[str, int]
//     origin: Optional[Address] = None; stops: list[Address]; parent_event: UUID; shipped_at: datetime
struct Shipment final : ev::AbstractIntegrationEvent {
  Shipment(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::int64_t count = 0;
  std::uint64_t big = 0;
  float ratio = 0;
  std::vector<int> sizes;
  std::map<std::string, int> stock;
  std::optional<Address> origin;
  std::vector<Address> stops;
  ev::EventId parent_event;
  ev::Timestamp shipped_at;
};

/// Names itself on the wire.
struct Shipped final : ev::AbstractIntegrationEvent {
  SPAKKY_EVENT_NAME("orders.shipped")
  Shipped() = default;
  Shipped(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  std::string order_id;
};

/// No (EventId, Timestamp) constructor: rebuilt by default construction.
struct Cancelled final : ev::AbstractIntegrationEvent {
  explicit Cancelled(std::string id = "") : order_id(std::move(id)) {}
  std::string order_id;
};

/// No fields at all.
struct Heartbeat final : ev::AbstractIntegrationEvent {
  Heartbeat(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
};

/// Same default name as OrderPlaced, another type.
namespace other {
struct OrderPlaced final : ev::AbstractIntegrationEvent {
  std::string order_id;
};
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id)
}  // namespace other

/// Never registered.
struct Unregistered final : ev::AbstractIntegrationEvent {
  std::string x;
};

// A recursive field type: a category tree.
struct Category {
  std::string name;
  std::vector<Category> children;
};

struct CatalogChanged final : ev::AbstractIntegrationEvent {
  CatalogChanged(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  Category root;
};

SPAKKY_EVENT_JSON_FIELDS(Address, city, zip_code)
SPAKKY_EVENT_JSON_FIELDS(OrderPlaced, order_id, amount, quantity, express, address, tags, coupon)
SPAKKY_EVENT_JSON_FIELDS(Shipment, count, big, ratio, sizes, stock, origin, stops, parent_event, shipped_at)
SPAKKY_EVENT_JSON_FIELDS(Shipped, order_id)
SPAKKY_EVENT_JSON_FIELDS(Cancelled, order_id)
SPAKKY_EVENT_JSON_FIELDS(Heartbeat)
SPAKKY_EVENT_JSON_FIELDS(Unregistered, x)
SPAKKY_EVENT_JSON_FIELDS(Category, name, children)
SPAKKY_EVENT_JSON_FIELDS(CatalogChanged, root)

constexpr ev::EventId kId = *ev::EventId::try_parse("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f");

ev::Timestamp at(int y, unsigned mo, unsigned d, int h, int mi, int s, int us = 0) {
  return sys_days{year{y} / month{mo} / day{d}} + hours{h} + minutes{mi} + seconds{s} + microseconds{us};
}

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_events<OrderPlaced, Shipment, Shipped, Cancelled, Heartbeat, CatalogChanged>();
  return serializer;
}

/// A CatalogChanged payload whose root is a chain of `levels` categories (2 * levels + 1 deep).
std::string catalog_payload(std::size_t levels) {
  std::string payload = R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","root":)";
  for (std::size_t i = 0; i < levels; ++i) payload += R"({"name":"","children":[)";
  payload.pop_back();  // the last category's children: []
  payload += "[]";
  for (std::size_t i = 0; i < levels; ++i) payload += (i + 1 < levels ? "}]" : "}");
  return payload + "}";
}

/// A chain of `levels` categories, built without recursion.
Category deep_catalog(std::size_t levels) {
  Category node;
  for (std::size_t i = 1; i < levels; ++i) {
    Category parent;
    parent.children.push_back(std::move(node));
    node = std::move(parent);
  }
  return node;
}

std::size_t catalog_depth(const Category& root) {
  std::size_t depth = 1;
  for (const Category* node = &root; !node->children.empty(); node = &node->children.front()) ++depth;
  return depth;
}

/// Takes a chain apart from the top, so that no destructor recurses through it.
void flatten(Category& root) {
  while (!root.children.empty()) {
    Category next = std::move(root.children.front());
    root.children.clear();
    root = std::move(next);
  }
}

bool printable_one_line(std::string_view text) {
  for (const char c : text) {
    const auto byte = static_cast<unsigned char>(c);
    if (byte < 0x20 || byte >= 0x7f) return false;
  }
  return true;
}

template <class E>
std::unique_ptr<E> read_as(const ev::JsonEventSerializer& serializer, std::string_view name, std::string_view payload) {
  std::unique_ptr<ev::AbstractIntegrationEvent> event = serializer.deserialize(name, payload);
  REQUIRE(event != nullptr);
  auto* typed = dynamic_cast<E*>(event.get());
  REQUIRE(typed != nullptr);
  event.release();
  return std::unique_ptr<E>(typed);
}

// The issue's vector: written by pydantic 2.13 for the OrderPlaced dataclass above.
constexpr std::string_view kIssuePayload =
    R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57.123456Z",)"
    R"("order_id":"o-1","amount":12.5,"quantity":3,"express":true,"address":{"city":"Seoul","zip_code":"04524"},)"
    "\"tags\":[\"gift\",\"\xc3\xa9\"],\"coupon\":null}";

// Escapes, control characters, DEL, '/', two-, three- and four-byte UTF-8; no fraction.
constexpr std::string_view kEscapesPayload =
    R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z",)"
    "\"order_id\":\"a\\\"b\\\\c\\nd\\te\\u0001\x7f/\xc3\xa9\xed\x95\x9c\xf0\x9f\x98\x80\","
    R"("amount":-0.25,"quantity":-5,"express":false,"address":{"city":"","zip_code":""},"tags":[],"coupon":"SAVE10"})";

constexpr std::string_view kLimitsPayload =
    R"({"event_id":"00000000-0000-4000-8000-000000000001","timestamp":"1999-12-31T23:59:59.000001Z",)"
    R"("order_id":"x","amount":123456789.125,"quantity":2147483647,"express":true,)"
    R"("address":{"city":"Busan","zip_code":"48058"},"tags":["a","b","c"],"coupon":null})";

constexpr std::string_view kShipmentPayload =
    R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-01-02T03:04:05.600000Z",)"
    R"("count":-9223372036854775808,"big":18446744073709551615,"ratio":0.5,"sizes":[1,-2,3],"stock":{"a":1,"b":2},)"
    R"("origin":{"city":"Seoul","zip_code":"04524"},"stops":[{"city":"A","zip_code":"1"},{"city":"B","zip_code":"2"}],)"
    R"("parent_event":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e90","shipped_at":"2026-01-02T03:04:05Z"})";

}  // namespace json_test

using namespace json_test;

TEST_CASE("the issue's pydantic payload reads to the same values and is written back byte for byte", "[json]") {
  const auto serializer = make_serializer();
  const auto event = read_as<OrderPlaced>(serializer, "OrderPlaced", kIssuePayload);
  CHECK(event->event_id() == kId);
  CHECK(event->timestamp() == at(2026, 11, 26, 10, 50, 57, 123456));
  CHECK(event->order_id == "o-1");
  CHECK(event->amount == 12.5);
  CHECK(event->quantity == 3);
  CHECK(event->express);
  CHECK(event->address == Address{"Seoul", "04524"});
  CHECK(event->tags == std::vector<std::string>{"gift", "\xc3\xa9"});
  CHECK_FALSE(event->coupon.has_value());

  CHECK(serializer.serialize(*event) == kIssuePayload);
}

TEST_CASE("golden bytes: escapes, non-ASCII as raw UTF-8, negative numbers, empty list, optional present", "[json]") {
  const auto serializer = make_serializer();
  OrderPlaced event(kId, at(2026, 11, 26, 10, 50, 57));
  event.order_id = "a\"b\\c\nd\te\x01\x7f/\xc3\xa9\xed\x95\x9c\xf0\x9f\x98\x80";
  event.amount = -0.25;
  event.quantity = -5;
  event.express = false;
  event.coupon = "SAVE10";
  CHECK(serializer.serialize(event) == kEscapesPayload);

  const auto back = read_as<OrderPlaced>(serializer, "OrderPlaced", kEscapesPayload);
  CHECK(back->order_id == event.order_id);
  CHECK(back->amount == -0.25);
  CHECK(back->quantity == -5);
  CHECK_FALSE(back->express);
  CHECK(back->address == Address{});
  CHECK(back->tags.empty());
  CHECK(back->coupon == std::optional<std::string>("SAVE10"));
}

TEST_CASE("golden bytes: int and float at their limits, a one-microsecond fraction, a list", "[json]") {
  const auto serializer = make_serializer();
  OrderPlaced event(*ev::EventId::try_parse("00000000-0000-4000-8000-000000000001"), at(1999, 12, 31, 23, 59, 59, 1));
  event.order_id = "x";
  event.amount = 123456789.125;
  event.quantity = std::numeric_limits<int>::max();
  event.express = true;
  event.address = {"Busan", "48058"};
  event.tags = {"a", "b", "c"};
  CHECK(serializer.serialize(event) == kLimitsPayload);
  const auto back = read_as<OrderPlaced>(serializer, "OrderPlaced", kLimitsPayload);
  CHECK(back->quantity == std::numeric_limits<int>::max());
  CHECK(back->amount == 123456789.125);
  CHECK(back->timestamp() == event.timestamp());
}

TEST_CASE("golden bytes: 64-bit integers, float, nested optional struct, list of structs, map, UUID and datetime fields", "[json]") {
  const auto serializer = make_serializer();
  Shipment event(kId, at(2026, 1, 2, 3, 4, 5, 600000));
  event.count = std::numeric_limits<std::int64_t>::min();
  event.big = std::numeric_limits<std::uint64_t>::max();
  event.ratio = 0.5f;
  event.sizes = {1, -2, 3};
  event.stock = {{"a", 1}, {"b", 2}};
  event.origin = Address{"Seoul", "04524"};
  event.stops = {{"A", "1"}, {"B", "2"}};
  event.parent_event = *ev::EventId::try_parse("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e90");
  event.shipped_at = at(2026, 1, 2, 3, 4, 5);
  CHECK(serializer.serialize(event) == kShipmentPayload);

  const auto back = read_as<Shipment>(serializer, "Shipment", kShipmentPayload);
  CHECK(back->count == event.count);
  CHECK(back->big == event.big);
  CHECK(back->ratio == 0.5f);
  CHECK(back->sizes == event.sizes);
  CHECK(back->stock == event.stock);
  CHECK(back->origin == event.origin);
  CHECK(back->stops == event.stops);
  CHECK(back->parent_event == event.parent_event);
  CHECK(back->shipped_at == event.shipped_at);

  event.origin.reset();
  const std::string without_origin = serializer.serialize(event);
  CHECK(without_origin.find(R"("origin":null,"stops")") != std::string::npos);
  CHECK_FALSE(read_as<Shipment>(serializer, "Shipment", without_origin)->origin.has_value());
}

TEST_CASE("floats: written as pydantic writes them; other spellings of the same number read the same", "[json]") {
  const auto serializer = make_serializer();
  OrderPlaced event(kId, at(2026, 11, 26, 10, 50, 57));
  event.amount = 1e-7;  // pydantic writes 1e-7 (nlohmann would write 1e-07)
  const std::string payload = serializer.serialize(event);
  CHECK(payload.find(R"("amount":1e-7,)") != std::string::npos);
  CHECK(read_as<OrderPlaced>(serializer, "OrderPlaced", payload)->amount == 1e-7);
  for (const char* spelling : {"1e-07", "1E-7", "1.0e-7", "0.0000001", "100e-9"}) {
    std::string other = payload;
    other.replace(other.find("1e-7"), 4, spelling);
    CHECK(read_as<OrderPlaced>(serializer, "OrderPlaced", other)->amount == 1e-7);
  }

  event.amount = 12.0;
  CHECK(serializer.serialize(event).find(R"("amount":12.0,)") != std::string::npos);
  // An int where a float is expected is a float (pydantic writes 12 for int 12 in a float field too).
  std::string integral = serializer.serialize(event);
  integral.replace(integral.find("12.0"), 4, "12");
  CHECK(read_as<OrderPlaced>(serializer, "OrderPlaced", integral)->amount == 12.0);
}

TEST_CASE("a round trip keeps the id, the timestamp and every field", "[json]") {
  const auto serializer = make_serializer();
  OrderPlaced event;  // fresh id, now
  event.order_id = "o-9";
  event.amount = 0.1;
  event.quantity = 7;
  event.address = {"Daegu", "41900"};
  event.tags = {"x"};
  event.coupon = "C";
  const auto back = read_as<OrderPlaced>(serializer, "OrderPlaced", serializer.serialize(event));
  CHECK(*back == event);  // same type, id and timestamp
  CHECK(back->event_id() == event.event_id());
  CHECK(back->timestamp() == event.timestamp());
  CHECK(back->order_id == "o-9");
  CHECK(back->amount == 0.1);
  CHECK(back->quantity == 7);
  CHECK(back->address == event.address);
  CHECK(back->tags == event.tags);
  CHECK(back->coupon == event.coupon);
}

TEST_CASE("an event without an (EventId, Timestamp) constructor is rebuilt with its id and timestamp", "[json]") {
  const auto serializer = make_serializer();
  const Cancelled event("o-3");
  const auto back = read_as<Cancelled>(serializer, "Cancelled", serializer.serialize(event));
  CHECK(*back == event);
  CHECK(back->order_id == "o-3");
  CHECK(back->kind() == ev::EventKind::integration);
}

TEST_CASE("an event without fields is its id and timestamp", "[json]") {
  const auto serializer = make_serializer();
  const Heartbeat event(kId, at(2026, 11, 26, 10, 50, 57));
  CHECK(serializer.serialize(event) ==
        R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z"})");
  CHECK(*read_as<Heartbeat>(serializer, "Heartbeat", serializer.serialize(event)) == event);
}

TEST_CASE("an event named with SPAKKY_EVENT_NAME is registered and read under that name", "[json]") {
  const auto serializer = make_serializer();
  CHECK(serializer.knows("orders.shipped"));
  CHECK_FALSE(serializer.knows("Shipped"));
  Shipped event(kId, at(2026, 11, 26, 10, 50, 57));
  event.order_id = "o-1";
  const std::string payload = serializer.serialize(event);
  CHECK(read_as<Shipped>(serializer, "orders.shipped", payload)->order_id == "o-1");
  CHECK_THROWS_AS(serializer.deserialize("Shipped", payload), ev::InvalidMessageError);
}

TEST_CASE("timestamps: Z, +00:00, other offsets converted to UTC, any fraction or none", "[json][timestamp]") {
  const auto serializer = make_serializer();
  auto read_at = [&](std::string_view timestamp) {
    const std::string payload = R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":")" +
                                std::string(timestamp) + R"(","order_id":"o"})";
    return read_as<Shipped>(serializer, "orders.shipped", payload)->timestamp();
  };
  CHECK(read_at("2026-11-26T10:50:57.123456Z") == at(2026, 11, 26, 10, 50, 57, 123456));
  CHECK(read_at("2026-11-26T10:50:57.123456+00:00") == at(2026, 11, 26, 10, 50, 57, 123456));
  CHECK(read_at("2026-11-26T19:50:57.123456+09:00") == at(2026, 11, 26, 10, 50, 57, 123456));
  CHECK(read_at("2026-11-26T05:20:57-05:30") == at(2026, 11, 26, 10, 50, 57));
  CHECK(read_at("2026-11-27T00:30:00+14:00") == at(2026, 11, 26, 10, 30, 0));  // the date changes too
  CHECK(read_at("2026-11-26T10:50:57Z") == at(2026, 11, 26, 10, 50, 57));
  CHECK(read_at("2026-11-26T10:50:57.123Z") == at(2026, 11, 26, 10, 50, 57, 123000));
  CHECK(read_at("2026-11-26T10:50:57.1Z") == at(2026, 11, 26, 10, 50, 57, 100000));
  CHECK(read_at("2026-11-26T10:50:57.123456789Z") == at(2026, 11, 26, 10, 50, 57, 123456));  // truncated
  CHECK(read_at("2024-02-29T00:00:00z") == at(2024, 2, 29, 0, 0, 0));

  // Written back the way pydantic writes UTC: Z, six digits, none when zero.
  Shipped event(kId, at(2026, 11, 26, 10, 50, 57, 120000));
  CHECK(serializer.serialize(event).find(R"("timestamp":"2026-11-26T10:50:57.120000Z")") != std::string::npos);
}

TEST_CASE("timestamps that are not ISO 8601 date-times with an offset are rejected", "[json][timestamp]") {
  const auto serializer = make_serializer();
  for (const char* timestamp :
       {"2026-11-26T10:50:57", "2026-11-26", "2026-11-26T10:50Z", "2026-02-30T00:00:00Z", "2026-11-26T24:00:00Z",
        "2026-11-26T10:60:00Z", "2026-11-26T10:50:60Z", "2026-11-26T10:50:57.Z", "2026-11-26T10:50:57+0900",
        "2026-11-26T10:50:57+24:00", "2026-11-26T10:50:57Zjunk", "yesterday", "", "0000-01-01T00:00:00Z",
        "0001-01-01T00:00:00+01:00", "+2026-11-26T10:50:57Z", "2026-1-26T10:50:57Z"}) {
    INFO(timestamp);
    const std::string payload = R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":")" +
                                std::string(timestamp) + R"(","order_id":"o"})";
    CHECK_THROWS_WITH(serializer.deserialize("orders.shipped", payload),
                      Catch::Contains("'orders.shipped'") && Catch::Contains("field 'timestamp'"));
  }
}

TEST_CASE("keys the type does not list are ignored, keys in another order are read, a missing optional is empty", "[json]") {
  const auto serializer = make_serializer();
  const auto event = read_as<OrderPlaced>(
      serializer, "OrderPlaced",
      R"({"coupon":"C","tags":[],"address":{"zip_code":"1","city":"A","floor":3},"express":false,"quantity":1,)"
      R"("amount":2,"order_id":"o","timestamp":"2026-11-26T10:50:57Z","event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f",)"
      R"("added_in_v2":{"x":[1,2]}})");
  CHECK(event->order_id == "o");
  CHECK(event->address == Address{"A", "1"});
  CHECK(event->coupon == std::optional<std::string>("C"));

  const auto no_coupon = read_as<OrderPlaced>(
      serializer, "OrderPlaced",
      R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","order_id":"o",)"
      R"("amount":1.5,"quantity":1,"express":true,"address":{"city":"A","zip_code":"1"},"tags":["t"]})");
  CHECK_FALSE(no_coupon->coupon.has_value());
}

TEST_CASE("a key given twice: the last value wins; an object of 90,000 keys reads in one pass", "[json]") {
  const auto serializer = make_serializer();
  const std::string head = R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z",)";
  CHECK(read_as<Shipped>(serializer, "orders.shipped", head + R"("order_id":"first","order_id":"last"})")->order_id == "last");

  // Near the 1 MiB limit: a parse that searched each object for the key it appends would make
  // 4 * 10^9 comparisons here.
  std::string many = head + R"("order_id":"first",)";
  for (int i = 0; i < 90000; ++i) many += "\"k" + std::to_string(i) + "\":0,";
  many += R"("order_id":"last"})";
  REQUIRE(many.size() < ev::JsonEventSerializer::default_max_payload_bytes);
  CHECK(read_as<Shipped>(serializer, "orders.shipped", many)->order_id == "last");
}

TEST_CASE("every kind of bad input is an InvalidMessageError naming the event", "[json][bad-input]") {
  const auto serializer = make_serializer();
  const std::string good(kIssuePayload);
  auto replaced = [&](std::string_view from, std::string_view to) {
    std::string payload = good;
    const auto at = payload.find(from);
    REQUIRE(at != std::string::npos);
    payload.replace(at, from.size(), to);
    return payload;
  };
  struct Case {
    const char* what;
    std::string payload;
    const char* reason;  // a part of the message
  };
  const std::vector<Case> cases = {
      {"empty", "", "malformed JSON"},
      {"truncated", good.substr(0, good.size() - 1), "malformed JSON"},
      {"not JSON", "order o-1", "malformed JSON"},
      {"trailing garbage", good + " x", "malformed JSON"},
      {"two objects", good + good, "malformed JSON"},
      {"invalid UTF-8 in a string", replaced("Seoul", "Se\xffoul"), "malformed JSON"},
      {"a lone surrogate escape", replaced("Seoul", "\\ud800"), "malformed JSON"},
      {"an array", "[1,2,3]", "expected a JSON object, got array"},
      {"a string", "\"OrderPlaced\"", "expected a JSON object, got string"},
      {"null", "null", "expected a JSON object, got null"},
      {"missing event_id", replaced(R"("event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f",)", ""), "field 'event_id': missing"},
      {"missing timestamp", replaced(R"("timestamp":"2026-11-26T10:50:57.123456Z",)", ""), "field 'timestamp': missing"},
      {"missing field", replaced(R"("order_id":"o-1",)", ""), "field 'order_id': missing"},
      {"missing nested field", replaced(R"("city":"Seoul",)", ""), "field 'address.city': missing"},
      {"event_id not a string", replaced(R"("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f")", "5"), "field 'event_id': expected a UUID string, got number"},
      {"event_id not a UUID", replaced("0b7c3f4e-9a51", "0b7c3f4e_9a51"), "field 'event_id': not a UUID"},
      {"timestamp not a string", replaced(R"("2026-11-26T10:50:57.123456Z")", "1700000000"), "field 'timestamp'"},
      {"string as number", replaced(R"("amount":12.5)", R"("amount":"12.5")"), "field 'amount': expected a number, got string"},
      {"float as int", replaced(R"("quantity":3)", R"("quantity":3.5)"), "field 'quantity': expected an integer, got number"},
      {"string as int", replaced(R"("quantity":3)", R"("quantity":"3")"), "field 'quantity': expected an integer, got string"},
      {"int out of range", replaced(R"("quantity":3)", R"("quantity":2147483648)"), "field 'quantity': integer 2147483648 out of range"},
      {"negative out of range", replaced(R"("quantity":3)", R"("quantity":-2147483649)"), "field 'quantity': integer -2147483649 out of range"},
      {"int as bool", replaced(R"("express":true)", R"("express":1)"), "field 'express': expected a boolean, got number"},
      {"null for a required field", replaced(R"("order_id":"o-1")", R"("order_id":null)"), "field 'order_id': expected a string, got null"},
      {"string as object", replaced(R"({"city":"Seoul","zip_code":"04524"})", R"("Seoul")"), "field 'address': expected an object, got string"},
      {"wrong type nested", replaced(R"("zip_code":"04524")", R"("zip_code":4524)"), "field 'address.zip_code': expected a string, got number"},
      {"string as list", replaced("[\"gift\",\"\xc3\xa9\"]", "\"gift\""), "field 'tags': expected an array, got string"},
      {"object as list", replaced("[\"gift\",\"\xc3\xa9\"]", R"({"a":"b"})"), "field 'tags': expected an array, got object"},
      {"wrong element type", replaced(R"(["gift",)", R"([7,)"), "field 'tags[0]': expected a string, got number"},
      {"wrong optional type", replaced(R"("coupon":null)", R"("coupon":5)"), "field 'coupon': expected a string, got number"},
  };
  for (const Case& c : cases) {
    INFO(c.what << ": " << c.payload);
    CHECK_THROWS_AS(serializer.deserialize("OrderPlaced", c.payload), ev::InvalidMessageError);
    CHECK_THROWS_WITH(serializer.deserialize("OrderPlaced", c.payload),
                      Catch::Contains("'OrderPlaced'") && Catch::Contains(c.reason));
  }
}

TEST_CASE("an unknown event name is an InvalidMessageError naming it", "[json][bad-input]") {
  const auto serializer = make_serializer();
  CHECK_THROWS_AS(serializer.deserialize("OrderShipped", kIssuePayload), ev::InvalidMessageError);
  CHECK_THROWS_WITH(serializer.deserialize("OrderShipped", kIssuePayload),
                    Catch::Contains("'OrderShipped'") && Catch::Contains("unknown event name"));
  const ev::JsonEventSerializer empty;
  CHECK_THROWS_AS(empty.deserialize("OrderPlaced", kIssuePayload), ev::InvalidMessageError);
}

TEST_CASE("an unknown event name reaches the error message escaped, on one line, and cut with a marker", "[json][bad-input]") {
  const auto serializer = make_serializer();
  auto message_for = [&](std::string_view name) -> std::string {
    try {
      (void)serializer.deserialize(name, kIssuePayload);
    } catch (const ev::InvalidMessageError& e) {
      return e.what();
    }
    FAIL("no InvalidMessageError");
    return {};
  };
  const std::string evil = message_for("Evil\r\nname");
  INFO(evil);
  CHECK(printable_one_line(evil));
  CHECK(evil.find("'Evil\\r\\nname'") != std::string::npos);

  // A long hostile name: the error quotes its first 256 bytes and says that it cut the rest.
  const std::string long_name = "\x1b[2J" + std::string(1000, 'n') + "\n";
  const std::string cut = message_for(long_name);
  INFO(cut);
  CHECK(printable_one_line(cut));
  CHECK(cut.find("'\\x1b[2J" + std::string(252, 'n') + "...'") != std::string::npos);
  CHECK(cut.size() < 600);
}

TEST_CASE("a payload larger than the configured limit is an InvalidMessageError, before parsing", "[json][bad-input]") {
  ev::JsonEventSerializer serializer(kIssuePayload.size());
  serializer.register_event<OrderPlaced>();
  CHECK(serializer.max_payload_bytes() == kIssuePayload.size());
  CHECK_NOTHROW(serializer.deserialize("OrderPlaced", kIssuePayload));  // exactly at the limit
  const std::string bigger = std::string(kIssuePayload) + " ";
  CHECK_THROWS_WITH(serializer.deserialize("OrderPlaced", bigger),
                    Catch::Contains("'OrderPlaced'") && Catch::Contains("larger than the limit"));

  serializer.set_max_payload_bytes(16);
  CHECK_THROWS_AS(serializer.deserialize("OrderPlaced", kIssuePayload), ev::InvalidMessageError);
  CHECK(ev::JsonEventSerializer().max_payload_bytes() == 1024 * 1024);
  const std::string huge(ev::JsonEventSerializer::default_max_payload_bytes + 1, ' ');
  CHECK_THROWS_WITH(make_serializer().deserialize("OrderPlaced", huge), Catch::Contains("larger than the limit"));
}

TEST_CASE("deeply nested input is rejected without exhausting the stack", "[json][bad-input][depth]") {
  const auto serializer = make_serializer();
  const std::string deep = std::string(R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","order_id":)") +
                           std::string(100000, '[') + std::string(100000, ']') + "}";
  CHECK_THROWS_WITH(serializer.deserialize("OrderPlaced", deep),
                    Catch::Contains("'OrderPlaced'") && Catch::Contains("nested deeper than 128"));
}

TEST_CASE("a recursive field type nested ~40,000 levels deep is an InvalidMessageError, not a crash", "[json][bad-input][depth]") {
  const auto serializer = make_serializer();
  // Just under the 1 MiB payload limit: the bound on size alone lets this through.
  const std::string payload = catalog_payload(40000);
  REQUIRE(payload.size() < ev::JsonEventSerializer::default_max_payload_bytes);
  CHECK_THROWS_AS(serializer.deserialize("CatalogChanged", payload), ev::InvalidMessageError);
  CHECK_THROWS_WITH(serializer.deserialize("CatalogChanged", payload),
                    Catch::Contains("'CatalogChanged'") && Catch::Contains("nested deeper than 128"));
  // Deep objects as well as deep arrays, in a key the type does not even list.
  std::string objects = R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","x":)";
  for (int i = 0; i < 40000; ++i) objects += R"({"a":)";
  objects += "1" + std::string(40000, '}') + "}";
  CHECK_THROWS_WITH(serializer.deserialize("orders.shipped", objects), Catch::Contains("nested deeper than 128"));
}

TEST_CASE("nesting exactly at the depth limit reads; one level more does not", "[json][bad-input][depth]") {
  auto serializer = make_serializer();
  CHECK(serializer.max_depth() == 128);
  CHECK(ev::JsonEventSerializer::default_max_depth == 128);
  // The event's own object is level 1: 127 arrays inside it reach level 128.
  auto with_arrays = [](std::size_t levels) {
    return R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z","order_id":"o","x":)" +
           std::string(levels, '[') + std::string(levels, ']') + "}";
  };
  CHECK(read_as<Shipped>(serializer, "orders.shipped", with_arrays(127))->order_id == "o");
  CHECK_THROWS_WITH(serializer.deserialize("orders.shipped", with_arrays(128)),
                    Catch::Contains("nested deeper than 128"));

  // A recursive type: k categories under `root` nest 2k + 1 levels deep (the last one's empty
  // children array included).
  const std::string payload = catalog_payload(63);  // 127 levels
  serializer.set_max_depth(127);
  CHECK(serializer.max_depth() == 127);
  const auto event = read_as<CatalogChanged>(serializer, "CatalogChanged", payload);
  CHECK(catalog_depth(event->root) == 63);
  CHECK(serializer.serialize(*event) == payload);  // written back at the same depth, byte for byte
  serializer.set_max_depth(126);
  CHECK_THROWS_WITH(serializer.deserialize("CatalogChanged", payload), Catch::Contains("nested deeper than 126"));
  CHECK_THROWS_AS(serializer.serialize(*event), ev::SerializationError);  // the same count on the way out
  CHECK_THROWS_WITH(serializer.serialize(*event), Catch::Contains("'CatalogChanged'") && Catch::Contains("nested deeper than 126"));
}

TEST_CASE("serializing a value nested deeper than the limit is a SerializationError, not a crash", "[json][depth]") {
  const auto serializer = make_serializer();
  CatalogChanged event(kId, at(2026, 11, 26, 10, 50, 57));
  event.root = deep_catalog(40000);
  CHECK_THROWS_AS(serializer.serialize(event), ev::SerializationError);
  CHECK_THROWS_WITH(serializer.serialize(event), Catch::Contains("'CatalogChanged'") && Catch::Contains("nested deeper than 128"));
  flatten(event.root);  // the test's own recursive destructor would need the deep stack too
}

TEST_CASE("serializing an unregistered type is a SerializationError naming the event", "[json]") {
  const auto serializer = make_serializer();
  CHECK_THROWS_AS(serializer.serialize(Unregistered{}), ev::SerializationError);
  CHECK_THROWS_WITH(serializer.serialize(Unregistered{}), Catch::Contains("'Unregistered'") && Catch::Contains("register_event"));
}

TEST_CASE("a string field that is not valid UTF-8 is a SerializationError, never written", "[json]") {
  const auto serializer = make_serializer();
  OrderPlaced event(kId, at(2026, 11, 26, 10, 50, 57));
  event.order_id = "o-\xff";
  CHECK_THROWS_AS(serializer.serialize(event), ev::SerializationError);
  CHECK_THROWS_WITH(serializer.serialize(event), Catch::Contains("'OrderPlaced'") && Catch::Contains("not valid UTF-8"));
  event.order_id = "o-1";
  event.tags = {"\xc3"};  // truncated sequence, in a nested value
  CHECK_THROWS_AS(serializer.serialize(event), ev::SerializationError);
}

TEST_CASE("registration: once per type, one type per name", "[json]") {
  ev::JsonEventSerializer serializer;
  serializer.register_event<OrderPlaced>().register_event<OrderPlaced>();  // the second is a no-op
  CHECK(serializer.knows("OrderPlaced"));
  CHECK_THROWS_AS(serializer.register_event<other::OrderPlaced>(), ev::EventError);
  CHECK_THROWS_WITH(serializer.register_event<other::OrderPlaced>(), Catch::Contains("'OrderPlaced'"));
  // The failed registration changed nothing.
  CHECK(dynamic_cast<OrderPlaced*>(serializer.deserialize("OrderPlaced", kIssuePayload).get()) != nullptr);
}

TEST_CASE("a moved serializer keeps its registrations", "[json]") {
  ev::JsonEventSerializer first = make_serializer();
  ev::JsonEventSerializer second = std::move(first);
  CHECK(second.knows("OrderPlaced"));
  CHECK(read_as<OrderPlaced>(second, "OrderPlaced", kIssuePayload)->order_id == "o-1");
}
