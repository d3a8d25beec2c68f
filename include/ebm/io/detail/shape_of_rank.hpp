#pragma once
// Building an ebm::shape whose rank is only known at run time (file readers).
#include "../../core/shape.hpp"

namespace ebm::io::detail {

/// A shape of the given rank (0..shape::max_rank) with every extent zero.
inline shape shape_of_rank(int rank) {
  EBM_REQUIRE(rank >= 0 && rank <= shape::max_rank, "rank ", rank, " outside 0..", shape::max_rank);
  switch (rank) {
    case 0: return shape{};
    case 1: return shape{0};
    case 2: return shape{0, 0};
    case 3: return shape{0, 0, 0};
    case 4: return shape{0, 0, 0, 0};
    case 5: return shape{0, 0, 0, 0, 0};
    default: return shape{0, 0, 0, 0, 0, 0};
  }
}

}  // namespace ebm::io::detail
