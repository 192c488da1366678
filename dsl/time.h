// Event times: RFC 3339 strings and epoch milliseconds, in UTC, without the C library's
// time zone machinery (deterministic, thread-safe).
#ifndef PROJD_DSL_TIME_H_
#define PROJD_DSL_TIME_H_

#include <cstdint>
#include <string>
#include <string_view>

namespace projd {

// Parses "2025-07-14T09:30:00Z", "2025-07-14T09:30:00.123+02:00", "2025-07-14 09:30:00z" (a
// space or 't' also separates date and time) and a bare date "2025-07-14" (midnight UTC).
// Returns false when the text is not such a time or names an impossible date.
bool ParseRfc3339(std::string_view text, int64_t* epoch_ms);

// The same, but a full RFC 3339 date-time only (a date, a time and an offset): the form an
// as-of time takes, where a bare date would be a guess at a time zone.
bool ParseRfc3339DateTime(std::string_view text, int64_t* epoch_ms);

// The same, to the microsecond (digits past the sixth are dropped).
bool ParseRfc3339Micros(std::string_view text, int64_t* epoch_us);

// Epoch milliseconds of 0000-01-01T00:00:00Z and of 9999-12-31T23:59:59.999Z: the times an
// RFC 3339 string (a four-digit year) can name.
constexpr int64_t kRfc3339MinMs = -62167219200000;
constexpr int64_t kRfc3339MaxMs = 253402300799999;

// "2025-07-14T09:30:00Z", with ".123" before the Z when the milliseconds are not zero.
std::string FormatRfc3339(int64_t epoch_ms);
// The same, appended (its characters never need escaping in JSON).
void AppendRfc3339(int64_t epoch_ms, std::string* out);

// Calendar parts in UTC.
struct CivilTime {
  int64_t year;
  int month;  // 1..12
  int day;    // 1..31
  int hour, minute, second, millis;
};
CivilTime ToCivil(int64_t epoch_ms);

}  // namespace projd

#endif  // PROJD_DSL_TIME_H_
