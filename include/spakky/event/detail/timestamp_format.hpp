#pragma once
/// @file
/// Timestamps written the way pydantic writes a UTC datetime:
/// "2026-11-26T10:50:57.123456Z", and "2026-11-26T10:50:57Z" when the microseconds are 0.

#include <chrono>
#include <cstdio>
#include <string>

namespace spakky::event::detail {

inline std::string format_timestamp(std::chrono::sys_time<std::chrono::microseconds> at) {
  using namespace std::chrono;
  const auto day = floor<days>(at);
  const year_month_day date{day};
  const hh_mm_ss<microseconds> time{at - day};
  char buffer[40];
  const auto micros = time.subseconds().count();
  int n = 0;
  if (micros == 0) {
    n = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02dZ", int(date.year()),
                      unsigned(date.month()), unsigned(date.day()), int(time.hours().count()),
                      int(time.minutes().count()), int(time.seconds().count()));
  } else {
    n = std::snprintf(buffer, sizeof buffer, "%04d-%02u-%02uT%02d:%02d:%02d.%06lldZ",
                      int(date.year()), unsigned(date.month()), unsigned(date.day()),
                      int(time.hours().count()), int(time.minutes().count()),
                      int(time.seconds().count()), static_cast<long long>(micros));
  }
  return std::string(buffer, static_cast<std::size_t>(n));
}

}  // namespace spakky::event::detail
