#pragma once
// A small fixed-capacity shape (rank <= 6), NCHW for images.
#include <array>
#include <initializer_list>
#include <ostream>
#include <string>

#include "config.hpp"
#include "error.hpp"

namespace ebm {

class shape {
 public:
  static constexpr int max_rank = 6;

  constexpr shape() = default;
  constexpr shape(std::initializer_list<index_t> dims) {
    EBM_REQUIRE(static_cast<int>(dims.size()) <= max_rank, "shape: rank ", dims.size(),
                " exceeds the maximum of ", max_rank);
    for (index_t d : dims) {
      EBM_REQUIRE(d >= 0, "shape: negative extent ", d);
      dims_[rank_++] = d;
    }
  }

  constexpr int rank() const { return rank_; }
  /// Appends an extent (rank grows by one).
  constexpr shape& push_back(index_t extent) {
    EBM_REQUIRE(rank_ < max_rank, "shape: rank ", rank_ + 1, " exceeds the maximum of ", max_rank);
    EBM_REQUIRE(extent >= 0, "shape: negative extent ", extent);
    dims_[rank_++] = extent;
    return *this;
  }
  constexpr index_t operator[](int i) const { return dims_[i]; }
  constexpr index_t& operator[](int i) { return dims_[i]; }
  constexpr index_t size() const {
    index_t n = 1;
    for (int i = 0; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  /// Product of the extents after the first (features per sample).
  constexpr index_t sample_size() const {
    index_t n = 1;
    for (int i = 1; i < rank_; ++i) n *= dims_[i];
    return n;
  }
  constexpr shape with(int axis, index_t extent) const {
    shape s = *this;
    s.dims_[axis] = extent;
    return s;
  }
  constexpr bool operator==(const shape& o) const {
    if (rank_ != o.rank_) return false;
    for (int i = 0; i < rank_; ++i)
      if (dims_[i] != o.dims_[i]) return false;
    return true;
  }
  std::string str() const {
    std::string s = "[";
    for (int i = 0; i < rank_; ++i) {
      if (i) s += ", ";
      s += std::to_string(dims_[i]);
    }
    return s + "]";
  }
  friend std::ostream& operator<<(std::ostream& os, const shape& s) { return os << s.str(); }

 private:
  std::array<index_t, max_rank> dims_{};
  int rank_ = 0;
};

/// Throws naming both shapes when they differ.
inline void require_same_shape(const shape& expected, const shape& got, const char* what,
                               std::source_location loc = std::source_location::current()) {
  if (!(expected == got))
    throw error(detail::concat(what, ": shape mismatch, expected ", expected, " but got ", got),
                loc);
}

}  // namespace ebm
