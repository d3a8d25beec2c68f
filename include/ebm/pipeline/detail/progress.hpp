#pragma once
// Helpers of the trainers' progress lines.
#include <iomanip>
#include <sstream>
#include <string>

namespace ebm::pipeline_detail {

/// Seconds as "42s", "3m05s" or "1h07m" (for ETAs).
inline std::string format_duration(double s) {
  const long long t = static_cast<long long>(s + 0.5);
  std::ostringstream os;
  if (t >= 3600) os << t / 3600 << "h" << std::setw(2) << std::setfill('0') << (t % 3600) / 60 << "m";
  else if (t >= 60) os << t / 60 << "m" << std::setw(2) << std::setfill('0') << t % 60 << "s";
  else os << t << "s";
  return os.str();
}

}  // namespace ebm::pipeline_detail
