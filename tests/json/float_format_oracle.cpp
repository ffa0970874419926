// The C++ half of float_format_oracle.py: serializes events carrying random doubles and floats
// with JsonEventSerializer and prints, one per line,
//   <double bits, 16 hex digits> <the double as written> <float bits, 8 hex digits> <the float as written>
// for the script to check against Python's repr. The numbers come from a seeded generator:
// random bit patterns (every finite double and float is equally likely), values spread over
// the exponents where the layouts change, and short decimals (few digits, many zeros), plus
// the edge values.
//   json_float_oracle <count> <seed>
#include <spakky/event/json.hpp>

#include <bit>
#include <cinttypes>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <exception>
#include <limits>
#include <random>
#include <string>
#include <string_view>
#include <vector>

namespace oracle {

namespace ev = spakky::event;

struct Sample final : ev::AbstractIntegrationEvent {
  Sample(ev::EventId id, ev::Timestamp at) : AbstractIntegrationEvent(id, at) {}
  double value = 0;
  float single = 0;
};

SPAKKY_EVENT_JSON_FIELDS(Sample, value, single)

/// The text of field `key` in a payload (up to the next ',' or '}').
std::string_view field(std::string_view payload, std::string_view key) {
  const auto at = payload.find(key) + key.size();
  return payload.substr(at, payload.find_first_of(",}", at) - at);
}

}  // namespace oracle

int main(int argc, char** argv) {
  if (argc != 3) {
    std::fprintf(stderr, "usage: json_float_oracle <count> <seed>\n");
    return 2;
  }
  const long count = std::strtol(argv[1], nullptr, 10);
  std::mt19937_64 random(std::strtoull(argv[2], nullptr, 10));

  std::vector<std::pair<double, float>> samples;
  using dl = std::numeric_limits<double>;
  using fl = std::numeric_limits<float>;
  for (const double d : {0.0, -0.0, dl::denorm_min(), dl::min(), dl::max(), -dl::max(), 1e-5, 1e-6, 1e15, 1e16, 1e17,
                         0.1, 1.0 / 3, 2.9802322387695312e-8, 9007199254740993.0, 123456789012345680.0}) {
    samples.emplace_back(d, 0.0f);
  }
  for (const float f : {fl::denorm_min(), fl::min(), fl::max(), -fl::max(), 0.1f, 16777217.0f}) samples.emplace_back(0.0, f);

  std::uniform_int_distribution<int> digits_count(1, 17);
  std::uniform_int_distribution<int> digit(0, 9);
  std::uniform_int_distribution<int> exponent(-30, 29);
  std::uniform_real_distribution<double> spread(-30.0, 70.0);
  while (static_cast<long>(samples.size()) < count) {
    double d = 0;
    float f = 0;
    switch (samples.size() % 4) {
      case 0:
      case 1: {  // random bit patterns
        do d = std::bit_cast<double>(random()); while (!std::isfinite(d));
        do f = std::bit_cast<float>(static_cast<std::uint32_t>(random())); while (!std::isfinite(f));
        break;
      }
      case 2: {  // around the layouts' bounds: 2^-30 .. 2^70, random mantissas
        d = std::ldexp(1.0 + static_cast<double>(random() >> 12) * 0x1p-52, static_cast<int>(spread(random)));
        f = static_cast<float>(std::ldexp(1.0 + static_cast<double>(random() >> 41) * 0x1p-23, static_cast<int>(spread(random))));
        break;
      }
      default: {  // short decimals: 1..17 (float: 1..9) random digits times 10^-30..10^29
        const auto decimal = [&](int max_digits) {
          std::string text;
          const int n = 1 + digits_count(random) % max_digits;
          for (int i = 0; i < n; ++i) text += static_cast<char>('0' + digit(random));
          return text + 'e' + std::to_string(exponent(random));
        };
        d = std::strtod(decimal(17).c_str(), nullptr);
        f = std::strtof(decimal(9).c_str(), nullptr);
        break;
      }
    }
    if (random() & 1) d = -d;
    if (random() & 1) f = -f;
    samples.emplace_back(d, f);
  }

  spakky::event::JsonEventSerializer serializer;
  serializer.register_event<oracle::Sample>();
  oracle::Sample event(spakky::event::EventId{}, spakky::event::Timestamp{});
  try {
    for (const auto& [d, f] : samples) {
      event.value = d;
      event.single = f;
      const std::string payload = serializer.serialize(event);
      const auto value = oracle::field(payload, "\"value\":");
      const auto single = oracle::field(payload, "\"single\":");
      std::printf("%016" PRIx64 "\t%.*s\t%08" PRIx32 "\t%.*s\n", std::bit_cast<std::uint64_t>(d),
                  static_cast<int>(value.size()), value.data(), std::bit_cast<std::uint32_t>(f),
                  static_cast<int>(single.size()), single.data());
    }
  } catch (const std::exception& e) {
    std::fprintf(stderr, "json_float_oracle: %s\n", e.what());
    return 1;
  }
  return 0;
}
