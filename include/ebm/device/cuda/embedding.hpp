#pragma once
// embedding_kernels<cuda>: nn::sinusoidal_embedding and nn::label_embedding
// on the GPU.  The sinusoidal embedding is evaluated in double as on the
// host (cos and sin of t exp(-ln(max_period) k / half)), then rounded to T.
// The label table's gradient is a gather over the batch (one thread per
// table entry adds, in batch order, the gradients of the samples that used
// its row), so it is deterministic and adds in the host's order.
//
// Declarations only: the kernels are in embedding.cuh.
#include "../../core/config.hpp"
#include "../../nn/embedding.hpp"
#include "device.hpp"

namespace ebm {

template <class D> struct embedding_kernels;

template <>
struct embedding_kernels<cuda> {
  /// out [n, dim] from timesteps t [n] (dim even, log_period = ln(max_period)).
  template <class T>
  static void sinusoidal(const cuda& dev, const T* t, T* out, index_t n, index_t dim,
                         double log_period);
  /// Copies the n host row indices `rows` to the device buffer `rows_dev`
  /// (on dev's stream; the host array may be reused when this returns), then
  /// y[i] = w[rows[i]] (rows of dim).
  template <class T>
  static void gather_rows(const cuda& dev, const T* w, const index_t* rows, index_t* rows_dev, T* y,
                          index_t n, index_t dim);
  /// gw[r] += g[i] for every i < n with rows_dev[i] == r, in order of i; gw
  /// has table_rows rows of dim.
  template <class T>
  static void scatter_add_rows(const cuda& dev, const T* g, const index_t* rows_dev, T* gw,
                               index_t n, index_t table_rows, index_t dim);
};

}  // namespace ebm
