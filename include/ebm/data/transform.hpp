#pragma once
// Geometric transforms that bring image sets to the resolution a model needs:
// resize (area averaging when shrinking, bilinear when growing) and padding.
//
// resize_images works per axis, so each output pixel is a separable weighted
// sum of input pixels:
//   shrinking n -> m: output i averages the input interval [i n/m, (i+1) n/m),
//     partial pixels weighted by their overlap (exact box filter; for n = 2m
//     this is 2x2 average pooling);
//   growing n -> m: bilinear interpolation at the pixel centres,
//     src = (i + 0.5) n/m - 0.5, clamped to the edge (align_corners = false,
//     as PyTorch's and OpenCV's defaults);
//   equal sizes copy.
#include <algorithm>
#include <cmath>
#include <vector>

#include "../core/tensor.hpp"

namespace ebm::data {

namespace detail {
struct tap {
  index_t src;
  double weight;
};
/// For each output index along one axis, the input indices and weights.
inline std::vector<std::vector<tap>> resize_taps(index_t n, index_t m) {
  std::vector<std::vector<tap>> taps(static_cast<std::size_t>(m));
  const double scale = static_cast<double>(n) / static_cast<double>(m);
  for (index_t i = 0; i < m; ++i) {
    auto& t = taps[static_cast<std::size_t>(i)];
    if (m == n) {
      t.push_back({i, 1.0});
    } else if (m < n) {
      const double lo = i * scale, hi = (i + 1) * scale;
      for (index_t j = static_cast<index_t>(std::floor(lo)); j < n && j < hi; ++j) {
        const double w = std::min(hi, double(j + 1)) - std::max(lo, double(j));
        if (w > 0) t.push_back({j, w / scale});
      }
    } else {
      const double src = std::clamp((i + 0.5) * scale - 0.5, 0.0, double(n - 1));
      const index_t j0 = static_cast<index_t>(std::floor(src));
      const index_t j1 = std::min(j0 + 1, n - 1);
      const double f = src - double(j0);
      t.push_back({j0, 1.0 - f});
      if (j1 != j0 && f > 0) t.push_back({j1, f});
    }
  }
  return taps;
}
}  // namespace detail

/// Resizes images [N, C, H, W] to [N, C, height, width] (see the header
/// comment for the filters).  `out` is resized; it must not alias `in`.
template <class T>
void resize_images(tensor_view<const T> in, index_t height, index_t width, tensor<T>& out) {
  const shape& s = in.shape();
  EBM_REQUIRE(s.rank() == 4 && s[2] > 0 && s[3] > 0, "resize_images: expected [N, C, H, W], got ", s);
  EBM_REQUIRE(height > 0 && width > 0, "resize_images: target size ", height, "x", width, " must be positive");
  const index_t planes = s[0] * s[1], h = s[2], w = s[3];
  const auto tx = detail::resize_taps(w, width), ty = detail::resize_taps(h, height);
  out.resize(shape{s[0], s[1], height, width});
  std::vector<double> rows(static_cast<std::size_t>(h * width));  // width resized, height not yet
  for (index_t p = 0; p < planes; ++p) {
    const T* src = in.data() + p * h * w;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < width; ++x) {
        double acc = 0;
        for (const auto& t : tx[static_cast<std::size_t>(x)]) acc += t.weight * static_cast<double>(src[y * w + t.src]);
        rows[static_cast<std::size_t>(y * width + x)] = acc;
      }
    T* dst = out.data() + p * height * width;
    for (index_t y = 0; y < height; ++y)
      for (index_t x = 0; x < width; ++x) {
        double acc = 0;
        for (const auto& t : ty[static_cast<std::size_t>(y)]) acc += t.weight * rows[static_cast<std::size_t>(t.src * width + x)];
        dst[y * width + x] = static_cast<T>(acc);
      }
  }
}

template <class T>
tensor<T> resize_images(tensor_view<const T> in, index_t height, index_t width) {
  tensor<T> out;
  resize_images(in, height, width, out);
  return out;
}

/// Pads images [N, C, H, W] to [N, C, height, width] with `value`, centred
/// (the extra row or column of an odd difference goes to the bottom/right).
/// With value = -1 (black in [-1, 1]) this extends Fashion-MNIST's background.
template <class T>
tensor<T> pad_images(tensor_view<const T> in, index_t height, index_t width, T value = T(-1)) {
  const shape& s = in.shape();
  EBM_REQUIRE(s.rank() == 4, "pad_images: expected [N, C, H, W], got ", s);
  EBM_REQUIRE(height >= s[2] && width >= s[3], "pad_images: cannot pad ", s, " to ", height, "x", width,
              " (the target is smaller)");
  const index_t planes = s[0] * s[1], h = s[2], w = s[3], top = (height - h) / 2, left = (width - w) / 2;
  tensor<T> out(shape{s[0], s[1], height, width}, value);
  for (index_t p = 0; p < planes; ++p)
    for (index_t y = 0; y < h; ++y)
      std::copy_n(in.data() + (p * h + y) * w, w, out.data() + (p * height + top + y) * width + left);
  return out;
}

}  // namespace ebm::data
