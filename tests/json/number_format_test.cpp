// Floating-point fields are written byte for byte as pydantic 2 writes the same float
// (json/number_format.hpp): the shortest round-trip digits, laid out as pydantic-core lays them
// out. The expected strings below are what pydantic 2.13.4 (pydantic-core 2.46.4) writes for
// the same doubles (TypeAdapter(float).dump_json); float_format_oracle.py checks 200,000 random
// doubles against Python's repr, and the pydantic interop test 3,000 against pydantic itself.

#include <spakky/event/error.hpp>
#include <spakky/event/json.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <cmath>
#include <limits>
#include <memory>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

namespace number_format_test {

namespace ev = spakky::event;

struct Reading final : ev::AbstractIntegrationEvent {
  Reading(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  double value = 0;
  float single = 0;
  nlohmann::ordered_json raw;
};

SPAKKY_EVENT_JSON_FIELDS(Reading, value, single, raw)

constexpr ev::EventId kId = *ev::EventId::try_parse("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f");

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_event<Reading>();
  return serializer;
}

/// The payload of a Reading: value, single and raw as given.
std::string payload_of(std::string_view value, std::string_view single = "0.0", std::string_view raw = "null") {
  return R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"1970-01-01T00:00:00Z","value":)" +
         std::string(value) + R"(,"single":)" + std::string(single) + R"(,"raw":)" + std::string(raw) + "}";
}

Reading reading(double value, float single = 0) {
  Reading event(kId, ev::Timestamp{});
  event.value = value;
  event.single = single;
  return event;
}

std::unique_ptr<Reading> read_back(const ev::JsonEventSerializer& serializer, const std::string& payload) {
  auto event = serializer.deserialize("Reading", payload);
  auto* typed = dynamic_cast<Reading*>(event.get());
  REQUIRE(typed != nullptr);
  event.release();
  return std::unique_ptr<Reading>(typed);
}

}  // namespace number_format_test

using namespace number_format_test;

TEST_CASE("doubles: the bytes pydantic 2 writes, and each reads back to the same double", "[json][float]") {
  const auto serializer = make_serializer();
  const std::vector<std::pair<double, std::string_view>> cases = {
      // The five the issue found (nlohmann wrote 1e-09, 1.5e-07, 1e-05, 1e+15, 2.9802322387695313e-08).
      {1e-9, "1e-9"},
      {1.5e-7, "1.5e-7"},
      {0.00001, "0.00001"},
      {1e15, "1000000000000000.0"},
      {2.9802322387695312e-8, "2.9802322387695312e-8"},  // 2^-25: a tie between ...312 and ...313, to even
      // Zero, the extremes, and each side of each layout's bounds.
      {0.0, "0.0"},
      {-0.0, "-0.0"},
      {5e-324, "5e-324"},
      {-5e-324, "-5e-324"},
      {2.2250738585072014e-308, "2.2250738585072014e-308"},
      {1.7976931348623157e308, "1.7976931348623157e+308"},
      {-1.7976931348623157e308, "-1.7976931348623157e+308"},
      {1e16, "1e+16"},
      {1e-5, "0.00001"},
      {1.2345e-5, "0.000012345"},
      {1e-6, "1e-6"},
      {1.25e-6, "1.25e-6"},
      {123456789012345680.0, "1.2345678901234568e+17"},
      {1234567890123456.0, "1234567890123456.0"},
      {12345678901234567.0, "1.2345678901234568e+16"},
      {9007199254740993.0, "9007199254740992.0"},
      {0.1, "0.1"},
      {1.0 / 3, "0.3333333333333333"},
      {2.0 / 3, "0.6666666666666666"},
      {100.0, "100.0"},
      {1.0, "1.0"},
      {-1.5, "-1.5"},
      {123456789.125, "123456789.125"},
      {1e100, "1e+100"},
      {1.5e300, "1.5e+300"},
      {-1e-100, "-1e-100"},
      {0.3, "0.3"},
      {5e-5, "0.00005"},
  };
  for (const auto& [value, expected] : cases) {
    INFO(expected);
    const std::string payload = serializer.serialize(reading(value));
    CHECK(payload == payload_of(expected));
    const auto back = read_back(serializer, payload);
    CHECK(back->value == value);
    CHECK(std::signbit(back->value) == std::signbit(value));
  }
}

TEST_CASE("floats: the shortest digits that read back as the same float, laid out as a double", "[json][float]") {
  const auto serializer = make_serializer();
  const std::vector<std::pair<float, std::string_view>> cases = {
      {0.1f, "0.1"},  // not 0.10000000149011612, the float's value as a double
      {-0.0f, "-0.0"},
      {0.0f, "0.0"},
      {1.0f / 3, "0.33333334"},
      {16777216.0f, "16777216.0"},
      {1e10f, "10000000000.0"},
      {3.4028235e38f, "3.4028235e+38"},
      {-3.4028235e38f, "-3.4028235e+38"},
      {1.17549435e-38f, "1.1754944e-38"},
      {1e-45f, "1e-45"},
      {1e-5f, "0.00001"},
      {2.5e-6f, "2.5e-6"},
  };
  for (const auto& [single, expected] : cases) {
    INFO(expected);
    const std::string payload = serializer.serialize(reading(0, single));
    CHECK(payload == payload_of("0.0", expected));
    const auto back = read_back(serializer, payload);
    CHECK(back->single == single);
    CHECK(std::signbit(back->single) == std::signbit(single));
  }
}

TEST_CASE("a non-finite number is a SerializationError, never written as null", "[json][float]") {
  const auto serializer = make_serializer();
  for (const double bad : {std::numeric_limits<double>::infinity(), -std::numeric_limits<double>::infinity(),
                           std::numeric_limits<double>::quiet_NaN()}) {
    INFO(bad);
    CHECK_THROWS_AS(serializer.serialize(reading(bad)), ev::SerializationError);
    CHECK_THROWS_WITH(serializer.serialize(reading(bad)), Catch::Contains("'Reading'") && Catch::Contains("has no JSON form"));
    CHECK_THROWS_AS(serializer.serialize(reading(0, static_cast<float>(bad))), ev::SerializationError);
    Reading in_json = reading(0);
    in_json.raw = nlohmann::ordered_json::array({1, bad});
    CHECK_THROWS_AS(serializer.serialize(in_json), ev::SerializationError);
  }
}

TEST_CASE("numbers inside a JSON-valued field are written alike", "[json][float]") {
  const auto serializer = make_serializer();
  const std::string payload = payload_of("0.0", "0.0", R"({"a":[1e-9,1.5e-7,0.00001,1000000000000000.0,-0.0,12,-3,18446744073709551615]})");
  const auto event = read_back(serializer, payload);
  CHECK(serializer.serialize(*event) == payload);
}
