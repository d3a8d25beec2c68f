#pragma once
// Nearest-neighbour L2 distances from a set of queries (generated images) to
// a reference set (the training images), and the memorisation indicator
// built on them.
//
// All pairwise squared distances come from one GEMM per tile,
//   ‖a − b‖² = ‖a‖² + ‖b‖² − 2 a·b,
// in the data's precision; the winner of each query is then re-measured
// directly in double, so the reported distance is exact (an exact copy gives
// 0, not the few-ulp residue of the expansion).  Only the choice between two
// candidates closer than the rounding of the expansion can differ from an
// exhaustive double-precision search, and then both distances agree to that
// rounding.  Query rows are split over the device's threads.
//
// Memorisation: a model that copies training images puts its samples much
// closer to the training set than unseen test images are.  memorisation()
// compares the samples' NN distances with those of test images (a reference
// for "new images from the data distribution"):
//   ratio          mean NN distance of samples / that of test images
//                  (≈ 1 for novel data-like images, → 0 for copies);
//   copy_fraction  fraction of samples closer to a training image than the
//                  `quantile`-quantile of the test images' NN distances
//                  (≈ quantile for novel images, 1 for copies).
#include <Eigen/Core>
#include <algorithm>
#include <cmath>
#include <limits>
#include <numeric>
#include <vector>

#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"

namespace ebm::eval {

/// For each query: the distance to its nearest reference row and that row.
struct nearest_result {
  std::vector<double> distance;
  std::vector<index_t> index;

  index_t size() const { return static_cast<index_t>(distance.size()); }
  double mean() const {
    EBM_REQUIRE(!distance.empty(), "nearest_result::mean: no queries");
    return std::accumulate(distance.begin(), distance.end(), 0.0) / double(distance.size());
  }
};

namespace detail {
inline constexpr index_t nn_query_tile = 256;       // rows of one GEMM
inline constexpr index_t nn_reference_tile = 2048;  // columns of one GEMM
}  // namespace detail

/// Nearest neighbours of queries [Nq, ...] in reference [Nr, ...] (both read
/// as rows of equal length) under the Euclidean distance.
template <class T>
nearest_result nearest_neighbours(tensor_view<const T> queries, tensor_view<const T> reference,
                                  const cpu& dev = cpu{}) {
  const shape &qs = queries.shape(), &rs = reference.shape();
  EBM_REQUIRE(qs.rank() >= 1 && rs.rank() >= 1 && qs.sample_size() == rs.sample_size(),
              "nearest_neighbours: queries ", qs, " and reference ", rs, " must have rows of one length");
  const index_t nq = qs[0], nr = rs[0], d = qs.sample_size();
  EBM_REQUIRE(nr > 0, "nearest_neighbours: the reference set is empty");
  using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using map = Eigen::Map<const row_major>;
  const map q(queries.data(), nq, d), r(reference.data(), nr, d);
  const Eigen::Matrix<T, Eigen::Dynamic, 1> rnorm = r.rowwise().squaredNorm();

  nearest_result out;
  out.distance.assign(static_cast<std::size_t>(nq), 0.0);
  out.index.assign(static_cast<std::size_t>(nq), 0);
  auto rows = [&](index_t begin, index_t end) {
    row_major g;
    for (index_t q0 = begin; q0 < end; q0 += detail::nn_query_tile) {
      const index_t qn = std::min(detail::nn_query_tile, end - q0);
      const auto qt = q.middleRows(q0, qn);
      const Eigen::Matrix<T, Eigen::Dynamic, 1> qnorm = qt.rowwise().squaredNorm();
      std::vector<T> best(static_cast<std::size_t>(qn), std::numeric_limits<T>::infinity());
      std::vector<index_t> arg(static_cast<std::size_t>(qn), 0);
      for (index_t r0 = 0; r0 < nr; r0 += detail::nn_reference_tile) {
        const index_t rn = std::min(detail::nn_reference_tile, nr - r0);
        g.resize(qn, rn);
        g.noalias() = qt * r.middleRows(r0, rn).transpose();
        for (index_t i = 0; i < qn; ++i) {
          const auto ui = static_cast<std::size_t>(i);
          for (index_t j = 0; j < rn; ++j) {
            const T d2 = qnorm[i] + rnorm[r0 + j] - T(2) * g(i, j);
            if (d2 < best[ui]) {
              best[ui] = d2;
              arg[ui] = r0 + j;
            }
          }
        }
      }
      for (index_t i = 0; i < qn; ++i) {
        const auto k = static_cast<std::size_t>(q0 + i);
        const index_t j = arg[static_cast<std::size_t>(i)];
        out.index[k] = j;
        out.distance[k] =
            std::sqrt((q.row(q0 + i).template cast<double>() - r.row(j).template cast<double>()).squaredNorm());
      }
    }
  };
  dev.parallel_for(nq, detail::nn_query_tile / 4, [f = &rows](index_t b, index_t e) { (*f)(b, e); });
  return out;
}

template <class T>
nearest_result nearest_neighbours(const tensor<T>& queries, const tensor<T>& reference, const cpu& dev = cpu{}) {
  return nearest_neighbours<T>(queries.view(), reference.view(), dev);
}

/// Samples' NN distances compared with those of unseen data (see the header).
struct memorisation_score {
  double sample_nn_mean = 0;     ///< mean NN distance of the samples to the training set
  double reference_nn_mean = 0;  ///< mean NN distance of test images to the training set
  double ratio = 0;              ///< sample_nn_mean / reference_nn_mean
  double copy_threshold = 0;     ///< the `quantile`-quantile of the test images' NN distances
  double copy_fraction = 0;      ///< fraction of samples with NN distance below copy_threshold
};

/// The `q`-quantile (0 ≤ q ≤ 1) of values, linearly interpolated between
/// order statistics (numpy's default).
inline double quantile(std::vector<double> values, double q) {
  EBM_REQUIRE(!values.empty(), "quantile: no values");
  EBM_REQUIRE(q >= 0 && q <= 1, "quantile: q = ", q, " must lie in [0, 1]");
  std::sort(values.begin(), values.end());
  const double pos = q * double(values.size() - 1);
  const auto lo = static_cast<std::size_t>(std::floor(pos));
  const std::size_t hi = std::min(lo + 1, values.size() - 1);
  return values[lo] + (pos - double(lo)) * (values[hi] - values[lo]);
}

/// Compares the samples' NN distances to the training set with those of test
/// images (`reference`) to the same training set.
inline memorisation_score memorisation(const nearest_result& samples, const nearest_result& reference,
                                       double copy_quantile = 0.01) {
  EBM_REQUIRE(samples.size() > 0 && reference.size() > 0, "memorisation: need samples and reference distances");
  memorisation_score m;
  m.sample_nn_mean = samples.mean();
  m.reference_nn_mean = reference.mean();
  EBM_REQUIRE(m.reference_nn_mean > 0, "memorisation: the reference images are all copies of training images "
              "(mean NN distance 0); use held-out images as the reference");
  m.ratio = m.sample_nn_mean / m.reference_nn_mean;
  m.copy_threshold = quantile(reference.distance, copy_quantile);
  const auto below = std::count_if(samples.distance.begin(), samples.distance.end(),
                                   [&](double d) { return d < m.copy_threshold; });
  m.copy_fraction = double(below) / double(samples.size());
  return m;
}

}  // namespace ebm::eval
