#include "dsl/time.h"

#include <cstdio>
#include <cstring>

namespace projd {
namespace {

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's algorithm).
int64_t DaysFromCivil(int64_t y, int m, int d) {
  y -= m <= 2;
  const int64_t era = (y >= 0 ? y : y - 399) / 400;
  const int64_t yoe = y - era * 400;
  const int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
  const int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return era * 146097 + doe - 719468;
}

void CivilFromDays(int64_t z, int64_t* y, int* m, int* d) {
  z += 719468;
  const int64_t era = (z >= 0 ? z : z - 146096) / 146097;
  const int64_t doe = z - era * 146097;
  const int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
  const int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
  const int64_t mp = (5 * doy + 2) / 153;
  *d = static_cast<int>(doy - (153 * mp + 2) / 5 + 1);
  *m = static_cast<int>(mp < 10 ? mp + 3 : mp - 9);
  *y = yoe + era * 400 + (*m <= 2);
}

bool IsLeap(int64_t y) { return (y % 4 == 0 && y % 100 != 0) || y % 400 == 0; }

int DaysInMonth(int64_t y, int m) {
  static const int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  return m == 2 && IsLeap(y) ? 29 : kDays[m - 1];
}

// Reads exactly n digits at s[*i].
bool Digits(std::string_view s, size_t* i, int n, int* out) {
  if (*i + n > s.size()) return false;
  int v = 0;
  for (int k = 0; k < n; ++k) {
    char c = s[*i + k];
    if (c < '0' || c > '9') return false;
    v = v * 10 + (c - '0');
  }
  *i += n;
  *out = v;
  return true;
}

}  // namespace

bool ParseRfc3339(std::string_view s, int64_t* epoch_ms) {
  int64_t us = 0;
  if (!ParseRfc3339Micros(s, &us)) return false;
  // Digits past the millisecond are dropped (toward the earlier time).
  *epoch_ms = us >= 0 ? us / 1000 : -((-us + 999) / 1000);
  return true;
}

bool ParseRfc3339DateTime(std::string_view s, int64_t* epoch_ms) {
  // "YYYY-MM-DD" then 'T', 't' or ' ': ParseRfc3339 wants the offset after a time.
  return s.size() > 10 && (s[10] == 'T' || s[10] == 't' || s[10] == ' ') &&
         ParseRfc3339(s, epoch_ms);
}

bool ParseRfc3339Micros(std::string_view s, int64_t* epoch_us) {
  // The date last read on this thread and its day number: the events of a stream mostly share
  // their date, whose checks and day arithmetic are then done once.
  thread_local bool have_last = false;
  thread_local char last_date[10];
  thread_local int64_t last_days;
  size_t i = 0;
  int64_t days;
  if (have_last && s.size() >= 10 && std::memcmp(s.data(), last_date, 10) == 0) {
    days = last_days;
    i = 10;
  } else {
    int year = 0, month = 0, day = 0;
    if (!Digits(s, &i, 4, &year) || i >= s.size() || s[i++] != '-' || !Digits(s, &i, 2, &month) ||
        i >= s.size() || s[i++] != '-' || !Digits(s, &i, 2, &day)) {
      return false;
    }
    if (month < 1 || month > 12 || day < 1 || day > DaysInMonth(year, month)) return false;
    days = DaysFromCivil(year, month, day);
    std::memcpy(last_date, s.data(), 10);  // i == 10: "YYYY-MM-DD"
    last_days = days;
    have_last = true;
  }
  if (i == s.size()) {
    *epoch_us = days * 86400000000;
    return true;
  }
  if (s[i] != 'T' && s[i] != 't' && s[i] != ' ') return false;
  ++i;
  int hour, minute, second;
  if (!Digits(s, &i, 2, &hour) || i >= s.size() || s[i++] != ':' || !Digits(s, &i, 2, &minute) ||
      i >= s.size() || s[i++] != ':' || !Digits(s, &i, 2, &second)) {
    return false;
  }
  if (hour > 23 || minute > 59 || second > 60) return false;  // 60: a leap second
  int micros = 0;
  if (i < s.size() && s[i] == '.') {
    ++i;
    int digits = 0;
    while (i < s.size() && s[i] >= '0' && s[i] <= '9') {
      if (digits < 6) micros = micros * 10 + (s[i] - '0');
      ++digits;
      ++i;
    }
    if (digits == 0) return false;
    for (int k = digits; k < 6; ++k) micros *= 10;
  }
  if (i >= s.size()) return false;
  int offset_minutes = 0;
  if (s[i] == 'Z' || s[i] == 'z') {
    ++i;
  } else if (s[i] == '+' || s[i] == '-') {
    int sign = s[i] == '-' ? -1 : 1;
    ++i;
    int oh, om;
    if (!Digits(s, &i, 2, &oh) || i >= s.size() || s[i++] != ':' || !Digits(s, &i, 2, &om) ||
        oh > 23 || om > 59) {
      return false;
    }
    offset_minutes = sign * (oh * 60 + om);
  } else {
    return false;
  }
  if (i != s.size()) return false;
  int64_t secs = days * 86400 + hour * 3600 + minute * 60 + second - offset_minutes * 60;
  *epoch_us = secs * 1000000 + micros;
  return true;
}

CivilTime ToCivil(int64_t ms) {
  int64_t days = ms >= 0 ? ms / 86400000 : -((-ms + 86400000 - 1) / 86400000);
  int64_t rem = ms - days * 86400000;
  CivilTime t;
  CivilFromDays(days, &t.year, &t.month, &t.day);
  t.hour = static_cast<int>(rem / 3600000);
  t.minute = static_cast<int>(rem / 60000 % 60);
  t.second = static_cast<int>(rem / 1000 % 60);
  t.millis = static_cast<int>(rem % 1000);
  return t;
}

std::string FormatRfc3339(int64_t ms) {
  std::string out;
  AppendRfc3339(ms, &out);
  return out;
}

void AppendRfc3339(int64_t ms, std::string* out) {
  CivilTime t = ToCivil(ms);
  if (t.year < 0 || t.year > 9999) {  // outside the fixed-width form: the general path
    char buf[64];
    if (t.millis != 0) {
      snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02d.%03dZ",
               static_cast<long long>(t.year), t.month, t.day, t.hour, t.minute, t.second,
               t.millis);
    } else {
      snprintf(buf, sizeof(buf), "%04lld-%02d-%02dT%02d:%02d:%02dZ", static_cast<long long>(t.year),
               t.month, t.day, t.hour, t.minute, t.second);
    }
    out->append(buf);
    return;
  }
  // YYYY-MM-DDTHH:MM:SS[.mmm]Z by hand: this runs for every row answered over HTTP.
  char buf[24];
  auto put = [&buf](int at, int64_t v, int width) {
    for (int i = width - 1; i >= 0; --i, v /= 10) buf[at + i] = static_cast<char>('0' + v % 10);
  };
  put(0, t.year, 4);
  buf[4] = '-';
  put(5, t.month, 2);
  buf[7] = '-';
  put(8, t.day, 2);
  buf[10] = 'T';
  put(11, t.hour, 2);
  buf[13] = ':';
  put(14, t.minute, 2);
  buf[16] = ':';
  put(17, t.second, 2);
  if (t.millis == 0) {
    buf[19] = 'Z';
    out->append(buf, 20);
    return;
  }
  buf[19] = '.';
  put(20, t.millis, 3);
  buf[23] = 'Z';
  out->append(buf, 24);
}

}  // namespace projd
