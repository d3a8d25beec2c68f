#pragma once
// Runtime errors: one exception type that names where the check failed.
#include <source_location>
#include <sstream>
#include <stdexcept>
#include <string>

namespace ebm {

/// The exception every runtime failure in ebm throws (bad shapes, bad
/// arguments, unreadable files, diverging chains, CUDA status codes).  what()
/// holds the message followed by "[function at file:line]".
class error : public std::runtime_error {
 public:
  explicit error(const std::string& msg,
                 std::source_location loc = std::source_location::current())
      : std::runtime_error(msg + " [" + loc.function_name() + " at " + loc.file_name() + ":" +
                           std::to_string(loc.line()) + "]") {}
};

namespace detail {
template <class... Args>
std::string concat(const Args&... args) {
  std::ostringstream os;
  (os << ... << args);
  return os.str();
}
}  // namespace detail
}  // namespace ebm

/// Throws ebm::error with the streamed message when `cond` is false.  The
/// message is only built on failure.
#define EBM_REQUIRE(cond, ...)                                                              \
  do {                                                                                      \
    if (!(cond)) [[unlikely]]                                                               \
      throw ::ebm::error(::ebm::detail::concat(__VA_ARGS__), std::source_location::current()); \
  } while (0)
