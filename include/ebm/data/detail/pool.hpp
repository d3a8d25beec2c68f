#pragma once
// 2x2 average pooling for the data pyramid.  Kept private to data/: the
// network's differentiable pooling lives in nn/, this one only prepares inputs.
#include "../../core/tensor.hpp"

namespace ebm::data::detail {

/// out[n, c, i, j] = mean of in[n, c, 2i..2i+1, 2j..2j+1]; H and W must be even.
template <class T>
void avg_pool2x2(tensor_view<const T> in, tensor<T>& out) {
  const shape& s = in.shape();
  EBM_REQUIRE(s.rank() == 4 && s[2] % 2 == 0 && s[3] % 2 == 0,
              "avg_pool2x2: expected [N, C, H, W] with even H and W, got ", s);
  const index_t planes = s[0] * s[1], h = s[2], w = s[3], ho = h / 2, wo = w / 2;
  out.resize(shape{s[0], s[1], ho, wo});
  for (index_t p = 0; p < planes; ++p) {
    const T* src = in.data() + p * h * w;
    T* dst = out.data() + p * ho * wo;
    for (index_t i = 0; i < ho; ++i) {
      const T* r0 = src + (2 * i) * w;
      const T* r1 = r0 + w;
      for (index_t j = 0; j < wo; ++j)
        dst[i * wo + j] = ((r0[2 * j] + r0[2 * j + 1]) + (r1[2 * j] + r1[2 * j + 1])) * T(0.25);
    }
  }
}

}  // namespace ebm::data::detail
