// OrderedMap (json/ordered_map.hpp): a map field that keeps its keys in the order they came,
// on the wire (a payload's key order survives a read and a write) and as a container.

#include <spakky/event/error.hpp>
#include <spakky/event/json.hpp>

#include <catch2/catch.hpp>

#include <map>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace ordered_map_test {

namespace ev = spakky::event;

struct Address {
  std::string city;
  friend bool operator==(const Address&, const Address&) = default;
};

struct PricesChanged final : ev::AbstractIntegrationEvent {
  PricesChanged(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  ev::OrderedMap<int> prices;
  std::map<std::string, int> sorted;
  ev::OrderedMap<std::vector<int>> lists;
  std::optional<ev::OrderedMap<Address>> sites;
};

SPAKKY_EVENT_JSON_FIELDS(Address, city)
SPAKKY_EVENT_JSON_FIELDS(PricesChanged, prices, sorted, lists, sites)

constexpr std::string_view kHead =
    R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z",)";

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_event<PricesChanged>();
  return serializer;
}

std::unique_ptr<PricesChanged> read(const ev::JsonEventSerializer& serializer, std::string_view payload) {
  auto event = serializer.deserialize("PricesChanged", payload);
  auto* typed = dynamic_cast<PricesChanged*>(event.get());
  REQUIRE(typed != nullptr);
  event.release();
  return std::unique_ptr<PricesChanged>(typed);
}

std::vector<std::string> keys_of(const ev::OrderedMap<int>& map) {
  std::vector<std::string> keys;
  for (const auto& [key, value] : map) keys.push_back(key);
  return keys;
}

}  // namespace ordered_map_test

using namespace ordered_map_test;

TEST_CASE("an OrderedMap field reads keys in the payload's order and writes them back byte for byte", "[json][ordered-map]") {
  const auto serializer = make_serializer();
  const std::string payload = std::string(kHead) +
                              R"("prices":{"z":3,"a":1,"m":2},"sorted":{"a":1,"m":2,"z":3},)"
                              R"("lists":{"z":[1],"a":[],"m":[2,3]},"sites":{"seoul":{"city":"Seoul"},"busan":{"city":"Busan"}}})";
  const auto event = read(serializer, payload);
  CHECK(keys_of(event->prices) == std::vector<std::string>{"z", "a", "m"});
  CHECK(event->prices.at("a") == 1);
  REQUIRE(event->sites.has_value());
  CHECK(event->sites->begin()->first == "seoul");
  CHECK(serializer.serialize(*event) == payload);

  // A std::map sorts its keys: the same object comes back sorted.
  const auto unsorted = read(serializer, std::string(kHead) + R"("prices":{},"sorted":{"z":3,"a":1,"m":2},"lists":{}})");
  CHECK(serializer.serialize(*unsorted).find(R"("sorted":{"a":1,"m":2,"z":3})") != std::string::npos);
  CHECK_FALSE(unsorted->sites.has_value());
}

TEST_CASE("an OrderedMap field is written in the order the program inserted its keys", "[json][ordered-map]") {
  const auto serializer = make_serializer();
  PricesChanged event(ev::EventId{}, ev::Timestamp{});
  event.prices["z"] = 3;
  event.prices["a"] = 1;
  event.prices.insert_or_assign("m", 2);
  event.prices["z"] = 30;  // assigning keeps the key where it is
  const std::string payload = serializer.serialize(event);
  CHECK(payload.find(R"("prices":{"z":30,"a":1,"m":2},"sorted":{},"lists":{},"sites":null})") != std::string::npos);
  CHECK(read(serializer, payload)->prices == event.prices);
}

TEST_CASE("an OrderedMap field: wrong input names the key; a key given twice keeps its first place", "[json][ordered-map]") {
  const auto serializer = make_serializer();
  CHECK_THROWS_WITH(serializer.deserialize("PricesChanged", std::string(kHead) + R"("prices":[1],"sorted":{},"lists":{}})"),
                    Catch::Contains("field 'prices': expected an object, got array"));
  CHECK_THROWS_WITH(serializer.deserialize("PricesChanged", std::string(kHead) + R"("prices":{"z":"3"},"sorted":{},"lists":{}})"),
                    Catch::Contains("field 'prices.z': expected an integer, got string"));
  const auto twice = read(serializer, std::string(kHead) + R"("prices":{"z":1,"a":2,"z":3},"sorted":{},"lists":{}})");
  CHECK(keys_of(twice->prices) == std::vector<std::string>{"z", "a"});
  CHECK(twice->prices.at("z") == 3);

  // Many keys read in one pass (no search for each key appended).
  std::string many = std::string(kHead) + R"("sorted":{},"lists":{},"prices":{)";
  for (int i = 0; i < 50000; ++i) many += (i ? ",\"k" : "\"k") + std::to_string(50000 - i) + "\":" + std::to_string(i);
  many += "}}";
  const auto big = read(serializer, many);
  REQUIRE(big->prices.size() == 50000);
  CHECK(big->prices.begin()->first == "k50000");
  CHECK(big->prices.at("k1") == 49999);
}

TEST_CASE("OrderedMap as a container: insertion order, map-like lookups, order-sensitive equality", "[ordered-map]") {
  ev::OrderedMap<int> map{{"b", 1}, {"a", 2}, {"b", 9}};  // a key given again is ignored, as std::map does
  CHECK(keys_of(map) == std::vector<std::string>{"b", "a"});
  CHECK(map.size() == 2);
  CHECK(map.at("b") == 1);
  CHECK_FALSE(map.empty());

  CHECK(map.emplace("c", 3).second);
  const auto [at, inserted] = map.emplace("a", 7);
  CHECK_FALSE(inserted);
  CHECK(at->second == 2);  // emplace leaves an existing key alone
  CHECK(map.insert_or_assign("a", 8).first->second == 8);
  CHECK(keys_of(map) == std::vector<std::string>{"b", "a", "c"});

  CHECK(map.contains("c"));
  CHECK_FALSE(map.contains("x"));
  CHECK(map.find("x") == map.end());
  CHECK(map.find("c")->second == 3);
  CHECK_THROWS_AS(map.at("x"), std::out_of_range);
  CHECK(map["x"] == 0);  // operator[] appends a value-initialized one
  CHECK(keys_of(map) == std::vector<std::string>{"b", "a", "c", "x"});

  CHECK(map.erase("a") == 1);
  CHECK(map.erase("a") == 0);
  CHECK(keys_of(map) == std::vector<std::string>{"b", "c", "x"});

  const ev::OrderedMap<int> same{{"b", 1}, {"c", 3}, {"x", 0}};
  const ev::OrderedMap<int> reordered{{"c", 3}, {"b", 1}, {"x", 0}};
  CHECK(map == same);
  CHECK_FALSE(map == reordered);  // the order is part of the value

  map.clear();
  CHECK(map.empty());
  CHECK(map.begin() == map.end());
}
