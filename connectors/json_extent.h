// Where a JSON value ends, without parsing it: the JSONL file source splits an envelope line
// ({"topic": ..., "key": ..., "value": {...}}) into its members this way and leaves each
// member's content to the full parser.
#ifndef PROJD_CONNECTORS_JSON_EXTENT_H_
#define PROJD_CONNECTORS_JSON_EXTENT_H_

#include <cstddef>
#include <string_view>

namespace projd {

// Skips the JSON value that starts at s[*i] (after whitespace): on success *i is just past it.
// False when it is not closed within `s` or does not start like a value. Only the extent is
// found: strings are skipped by their quotes (an escaped quote does not end one), objects and
// arrays by bracket depth outside strings, scalars up to the next delimiter; the content is
// checked where it is parsed. Objects and arrays are scanned 64 bytes at a time where the bytes
// hold no backslash.
bool SkipJsonValue(std::string_view s, size_t* i);

// The same, a byte at a time: the reference SkipJsonValue is held to (tests).
bool SkipJsonValueBytewise(std::string_view s, size_t* i);

}  // namespace projd

#endif  // PROJD_CONNECTORS_JSON_EXTENT_H_
