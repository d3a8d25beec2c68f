// Command-line options shared by the examples: `--key value` pairs and
// `--flag`s after the command word, typed accessors with defaults, and a
// check that rejects options nobody asked for (typos).
#pragma once

#include <cstdlib>
#include <map>
#include <set>
#include <string>

#include <ebm/core/error.hpp>

namespace ebm::examples {

/// --key value and --flag options after the command word.
class options {
 public:
  options(int argc, char** argv, int first) {
    for (int i = first; i < argc; ++i) {
      std::string a = argv[i];
      if (a.rfind("--", 0) != 0) throw ebm::error("unexpected argument '" + a + "' (options start with --)");
      if (i + 1 < argc && std::string(argv[i + 1]).rfind("--", 0) != 0) values_[a] = argv[++i];
      else values_[a] = "";
    }
  }
  bool has(const std::string& k) const { return values_.count(k) != 0; }
  std::string str(const std::string& k, const std::string& def) const {
    used_.insert(k);
    auto it = values_.find(k);
    return it == values_.end() ? def : it->second;
  }
  long long integer(const std::string& k, long long def) const {
    const std::string s = str(k, std::to_string(def));
    char* end = nullptr;
    const long long v = std::strtoll(s.c_str(), &end, 10);
    if (s.empty() || *end) throw ebm::error("option " + k + " expects an integer, got '" + s + "'");
    return v;
  }
  double real(const std::string& k, double def) const {
    const std::string s = str(k, std::to_string(def));
    char* end = nullptr;
    const double v = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) throw ebm::error("option " + k + " expects a number, got '" + s + "'");
    return v;
  }
  bool flag(const std::string& k) const {
    used_.insert(k);
    return has(k);
  }
  /// Throws on options nobody asked for (typos).
  void reject_unknown() const {
    for (const auto& [k, v] : values_)
      if (!used_.count(k)) throw ebm::error("unknown option " + k + " (see --help)");
  }

 private:
  std::map<std::string, std::string> values_;
  mutable std::set<std::string> used_;
};

}  // namespace ebm::examples
