// The field types JsonEventSerializer writes and reads (json/codec.hpp): free-form JSON fields
// and the range of floating-point fields.

#include <spakky/event/error.hpp>
#include <spakky/event/json.hpp>

#include <catch2/catch.hpp>
#include <nlohmann/json.hpp>

#include <chrono>
#include <cmath>
#include <limits>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

namespace codec_test {

namespace ev = spakky::event;

/// Free-form JSON fields: pydantic's `Any` / `dict[str, Any]`.
struct Annotated final : ev::AbstractIntegrationEvent {
  Annotated(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  nlohmann::ordered_json extra;
  nlohmann::json sorted;
  std::optional<nlohmann::ordered_json> maybe;
  std::vector<nlohmann::ordered_json> many;
};

struct Measured final : ev::AbstractIntegrationEvent {
  Measured(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  float f = 0;
  double d = 0;
};

SPAKKY_EVENT_JSON_FIELDS(Annotated, extra, sorted, maybe, many)
SPAKKY_EVENT_JSON_FIELDS(Measured, f, d)

constexpr ev::EventId kId = *ev::EventId::try_parse("0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f");
constexpr std::string_view kHead =
    R"({"event_id":"0b7c3f4e-9a51-4d2c-8f1e-2a6b5c7d8e9f","timestamp":"2026-11-26T10:50:57Z",)";

ev::Timestamp when() { return ev::Timestamp(std::chrono::sys_days{std::chrono::year{2026} / 11 / 26}) + std::chrono::hours{10} + std::chrono::minutes{50} + std::chrono::seconds{57}; }

ev::JsonEventSerializer make_serializer() {
  ev::JsonEventSerializer serializer;
  serializer.register_events<Annotated, Measured>();
  return serializer;
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

std::string measured(std::string_view f, std::string_view d) {
  return std::string(kHead) + R"("f":)" + std::string(f) + R"(,"d":)" + std::string(d) + "}";
}

}  // namespace codec_test

using namespace codec_test;

TEST_CASE("JSON-valued fields round-trip objects, arrays, strings, numbers and null; ordered_json keeps key order", "[json][codec]") {
  const auto serializer = make_serializer();
  const std::string payload =
      std::string(kHead) +
      R"("extra":{"z":1,"a":[1,"x",null,true,false,-2,1.5,{}],"m":{"k":"v","b":[]}},)"
      R"("sorted":{"a":{"c":1,"d":2},"b":"s"},"maybe":"text","many":[{},[],"",0,null,{"y":2,"x":1}]})";
  const auto event = read_as<Annotated>(serializer, "Annotated", payload);
  CHECK(event->extra.is_object());
  CHECK(event->extra.dump() == R"({"z":1,"a":[1,"x",null,true,false,-2,1.5,{}],"m":{"k":"v","b":[]}})");
  CHECK(event->sorted == nlohmann::json{{"a", {{"c", 1}, {"d", 2}}}, {"b", "s"}});
  CHECK(event->maybe == std::optional<nlohmann::ordered_json>("text"));
  REQUIRE(event->many.size() == 6);
  CHECK(event->many[5].dump() == R"({"y":2,"x":1})");
  CHECK(serializer.serialize(*event) == payload);

  // Written from values a user builds, each kind of JSON value in each field.
  Annotated built(kId, when());
  for (const nlohmann::ordered_json& value :
       {nlohmann::ordered_json::parse(R"({"b":1,"a":2})"), nlohmann::ordered_json::array({1, "two", nullptr}),
        nlohmann::ordered_json("s\"\n"), nlohmann::ordered_json(-7), nlohmann::ordered_json(0.25),
        nlohmann::ordered_json(nullptr), nlohmann::ordered_json(true), nlohmann::ordered_json(18446744073709551615ULL)}) {
    INFO(value.dump());
    built.extra = value;
    built.sorted = nlohmann::json::parse(value.dump());
    built.maybe = value;
    built.many = {value, value};
    const std::string written = serializer.serialize(built);
    const auto back = read_as<Annotated>(serializer, "Annotated", written);
    CHECK(back->extra == value);
    CHECK(back->extra.dump() == value.dump());
    CHECK(back->sorted == built.sorted);
    CHECK(back->many == built.many);
    CHECK(serializer.serialize(*back) == written);
  }
}

TEST_CASE("a JSON-valued field with a key given twice keeps the key at its first place with its last value", "[json][codec]") {
  const auto serializer = make_serializer();
  std::string big = R"({"a":1,)";
  for (int i = 0; i < 40; ++i) big += "\"k" + std::to_string(i) + "\":" + std::to_string(i) + ",";
  big += R"("a":2})";
  const auto event = read_as<Annotated>(
      serializer, "Annotated",
      std::string(kHead) + R"("extra":{"a":1,"b":2,"a":3},"sorted":{"b":1,"b":[2]},"many":[)" + big + "]}");
  CHECK(event->extra.dump() == R"({"a":3,"b":2})");
  CHECK(event->sorted.dump() == R"({"b":[2]})");
  REQUIRE(event->many.size() == 1);
  CHECK(event->many[0].size() == 41);
  CHECK(event->many[0].begin().key() == "a");
  CHECK(event->many[0]["a"] == 2);
  CHECK(event->many[0]["k39"] == 39);
}

TEST_CASE("a JSON-valued field: null, missing and wrong values", "[json][codec]") {
  const auto serializer = make_serializer();
  // null is a JSON value like any other; an empty optional is written as null and reads back empty.
  const auto nulls = read_as<Annotated>(serializer, "Annotated",
                                        std::string(kHead) + R"("extra":null,"sorted":null,"maybe":null,"many":[null]})");
  CHECK(nulls->extra.is_null());
  CHECK(nulls->sorted.is_null());
  CHECK_FALSE(nulls->maybe.has_value());
  CHECK(nulls->many.size() == 1);

  // A missing required JSON field is missing, like any other field.
  CHECK_THROWS_WITH(serializer.deserialize("Annotated", std::string(kHead) + R"("sorted":1,"many":[]})"),
                    Catch::Contains("field 'extra': missing"));

  // A value nlohmann can hold but JSON cannot write (binary) is refused, never written.
  Annotated event(kId, when());
  event.extra = nlohmann::ordered_json::binary({1, 2, 3});
  CHECK_THROWS_AS(serializer.serialize(event), ev::SerializationError);
  CHECK_THROWS_WITH(serializer.serialize(event), Catch::Contains("'Annotated'") && Catch::Contains("binary"));
}

TEST_CASE("floating-point fields: a number the field's type cannot hold is an InvalidMessageError", "[json][codec][float]") {
  const auto serializer = make_serializer();
  struct Case {
    std::string f;
    std::string d;
    std::string reason;  // the payload's spelling of a number, long ones cut
  };
  for (const Case& c : std::vector<Case>{
           {"1e-50", "0", "out of range for a float"},
           {"-1e-50", "0", "out of range for a float"},
           {"1e-46", "0", "out of range for a float"},
           {"1e50", "0", "out of range for a float"},
           {"-1e50", "0", "out of range for a float"},
           {"3.4028236e38", "0", "out of range for a float"},
           {"0", "1e309", "number 1e309 out of range for a double"},
           {"0", "-1e309", "number -1e309 out of range for a double"},
           {"0", "-1e-400", "number -1e-400 out of range for a double"},
           {"0", "2e-324", "number 2e-324 out of range for a double"},
           {"0", "0." + std::string(400, '0') + "1", "number 0.000000000000000000000000000000... out of range for a double"},
       }) {
    INFO(c.f << " / " << c.d);
    CHECK_THROWS_AS(serializer.deserialize("Measured", measured(c.f, c.d)), ev::InvalidMessageError);
    CHECK_THROWS_WITH(serializer.deserialize("Measured", measured(c.f, c.d)),
                      Catch::Contains("'Measured'") && Catch::Contains(c.reason));
    if (c.d == "0") CHECK_THROWS_WITH(serializer.deserialize("Measured", measured(c.f, c.d)), Catch::Contains("field 'f': number"));
  }
  // Underflow is out of range wherever it is, even in a key the type ignores.
  CHECK_THROWS_WITH(serializer.deserialize("Measured", measured("0", "0").insert(kHead.size(), R"("x":[1e-999],)")),
                    Catch::Contains("out of range for a double"));
}

TEST_CASE("floating-point fields: the edges of each type read exactly; zero and subnormals are in range", "[json][codec][float]") {
  const auto serializer = make_serializer();
  auto read = [&](std::string_view f, std::string_view d) { return read_as<Measured>(serializer, "Measured", measured(f, d)); };
  CHECK(read("3.4028235e38", "1.7976931348623157e308")->f == std::numeric_limits<float>::max());
  CHECK(read("-3.4028235e38", "-1.7976931348623157e308")->d == std::numeric_limits<double>::lowest());
  CHECK(read("3.4028235e38", "1.7976931348623157e308")->d == std::numeric_limits<double>::max());
  CHECK(read("-3.4028235e38", "0")->f == std::numeric_limits<float>::lowest());
  CHECK(read("1e-45", "5e-324")->f == std::numeric_limits<float>::denorm_min());
  CHECK(read("1e-45", "5e-324")->d == std::numeric_limits<double>::denorm_min());
  CHECK(read("1.1754944e-38", "2.2250738585072014e-308")->f == std::numeric_limits<float>::min());
  CHECK(read("1.1754944e-38", "2.2250738585072014e-308")->d == std::numeric_limits<double>::min());
  CHECK(read("0", "3e-324")->d == std::numeric_limits<double>::denorm_min());  // rounds up, not to 0
  CHECK(read("16777217", "9007199254740993")->f == 16777216.0f);  // rounding is not range
  const auto zeros = read("-0.0", "0e-999");
  CHECK(zeros->f == 0.0f);
  CHECK(std::signbit(zeros->f));
  CHECK(zeros->d == 0.0);
  CHECK(read("0.000e5", "-0E-400")->d == 0.0);
  CHECK(read("18446744073709551615", "-9223372036854775808")->d == -9223372036854775808.0);
}
