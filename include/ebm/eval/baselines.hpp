#pragma once
// Image transforms that make the simple baselines of the evaluation tool
// (eval/image_score.hpp), on images [N, C, H, W] with values in [−1, 1]:
//
//   add_gaussian_noise    x + σ ε, ε ~ N(0, 1) per pixel, clamped to [−1, 1];
//   uniform_noise_images  every pixel uniform in [−1, 1];
//   gaussian_blur         a separable Gaussian of standard deviation σ
//                         pixels, truncated at 3σ; near the border the taps
//                         that fall outside are dropped and the rest
//                         renormalised (no dark or bright frame appears);
//   quantize_8bit         rounds to the 256 levels of an 8-bit file, as
//                         generated samples are when they reach the tool
//                         through an IDX file.
#include <algorithm>
#include <cmath>
#include <span>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"

namespace ebm::eval {

/// images + σ N(0, 1), clamped to [−1, 1].
template <class T>
tensor<T> add_gaussian_noise(tensor_view<const T> images, double sigma, philox& rng) {
  EBM_REQUIRE(sigma >= 0, "add_gaussian_noise: sigma = ", sigma, " must be non-negative");
  tensor<T> out(images);
  std::vector<T> eps(static_cast<std::size_t>(out.size()));
  rng.fill_normal<T>(std::span<T>(eps), T(0), static_cast<T>(sigma));
  for (index_t i = 0; i < out.size(); ++i) out[i] = std::clamp(out[i] + eps[static_cast<std::size_t>(i)], T(-1), T(1));
  return out;
}

/// Images of shape `s` with every pixel uniform in [−1, 1).
template <class T>
tensor<T> uniform_noise_images(const shape& s, philox& rng) {
  tensor<T> out;
  out.resize(s);
  rng.fill_uniform<T>(out.span(), T(-1), T(1));
  return out;
}

/// Each plane of images [N, C, H, W] convolved with a Gaussian of standard
/// deviation `sigma` pixels (see the header for the border).
template <class T>
tensor<T> gaussian_blur(tensor_view<const T> images, double sigma) {
  const shape& s = images.shape();
  EBM_REQUIRE(s.rank() == 4, "gaussian_blur: expected images [N, C, H, W], got ", s);
  EBM_REQUIRE(sigma > 0, "gaussian_blur: sigma = ", sigma, " must be positive");
  const index_t radius = static_cast<index_t>(std::ceil(3 * sigma));
  std::vector<double> w(static_cast<std::size_t>(2 * radius + 1));
  for (index_t k = -radius; k <= radius; ++k)
    w[static_cast<std::size_t>(k + radius)] = std::exp(-0.5 * double(k * k) / (sigma * sigma));
  const index_t planes = s[0] * s[1], h = s[2], wd = s[3];
  tensor<T> out;
  out.resize(s);
  std::vector<double> rows(static_cast<std::size_t>(h * wd));
  // One axis at a time: out(y, x) = Σ_k w_k in(y, x + k) / Σ_k w_k over taps inside.
  auto pass = [&](auto at, index_t len, index_t pos) {
    double acc = 0, norm = 0;
    for (index_t k = std::max(-radius, -pos); k <= std::min(radius, len - 1 - pos); ++k) {
      const double wk = w[static_cast<std::size_t>(k + radius)];
      acc += wk * at(pos + k);
      norm += wk;
    }
    return acc / norm;
  };
  for (index_t p = 0; p < planes; ++p) {
    const T* src = images.data() + p * h * wd;
    T* dst = out.data() + p * h * wd;
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < wd; ++x)
        rows[static_cast<std::size_t>(y * wd + x)] =
            pass([&](index_t j) { return static_cast<double>(src[y * wd + j]); }, wd, x);
    for (index_t y = 0; y < h; ++y)
      for (index_t x = 0; x < wd; ++x)
        dst[y * wd + x] =
            static_cast<T>(pass([&](index_t i) { return rows[static_cast<std::size_t>(i * wd + x)]; }, h, y));
  }
  return out;
}

/// Rounds values in [−1, 1] to the nearest of the 256 levels b/127.5 − 1 of
/// an 8-bit image, in place: what data::write_idx_images followed by
/// data::read_idx_images does (clamped, NaN to −1).
template <class T>
void quantize_8bit(tensor<T>& images) {
  for (T& v : images) {
    double u = (static_cast<double>(v) + 1.0) * 127.5;
    u = u > 0 ? std::min(u, 255.0) : 0.0;  // also maps NaN to 0
    v = static_cast<T>(std::round(u) / 127.5 - 1.0);
  }
}

}  // namespace ebm::eval
