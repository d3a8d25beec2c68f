#pragma once
// Interpolating Gaussian noises, as DDIM does to morph between two generated
// images (Song et al. 2021, §5.4): a deterministic sampler (ddim with eta 0)
// maps each interpolated x_T to an image.  Linear interpolation of two
// independent N(0, I) draws shrinks the norm in between (at lambda = 1/2 by
// about 1/sqrt(2) in high dimension), off the shell where N(0, I) puts its
// mass; spherical interpolation keeps it:
//
//   slerp(a, b, lambda) = sin((1 - lambda) theta) / sin(theta) a + sin(lambda theta) / sin(theta) b,
//   theta = the angle between a and b,
//
// per sample of a batch [N, ...].  lambda = 0 gives a, lambda = 1 gives b
// (exactly); for equal norms the norm is kept for every lambda.  theta is
// computed as 2 atan2(|a^ - b^|, |a^ + b^|) with a^ = a / |a| (accurate for
// nearly parallel vectors too); where sin(theta) < 1e-6 (a and b nearly
// parallel or opposite, or one of them zero) the sample falls back to
// lerp(a, b, lambda) = (1 - lambda) a + lambda b.  Sums are in double.
//
//   ebm::tensor<float> z0(shape{1, 3, 32, 32}), z1(z0.shape());
//   rng.fill_normal(z0.span()); rng.fill_normal(z1.span());
//   ebm::tensor<float> path = ebm::slerp_path(z0, z1, 8);   // [8, 3, 32, 32], path[0] = z0, path[7] = z1
//   ebm::ddim<float>(schedule, 50).run(model, path, rng);    // path now holds 8 images
#include <cmath>
#include <type_traits>

#include "../core/error.hpp"
#include "../core/tensor.hpp"

namespace ebm {

namespace detail {
template <class T>
void check_interpolation_pair(const tensor<T>& a, const tensor<T>& b, const char* who) {
  EBM_REQUIRE(a.rank() >= 1, who, ": need batches [N, ...], got a rank-0 tensor");
  require_same_shape(a.shape(), b.shape(), who);
}

/// Interpolates one sample (`per` entries) of a and b into out.
template <class T>
void slerp_sample(const T* a, const T* b, T* out, index_t per, double lambda) {
  double na = 0, nb = 0;
  for (index_t j = 0; j < per; ++j) na += double(a[j]) * double(a[j]), nb += double(b[j]) * double(b[j]);
  na = std::sqrt(na), nb = std::sqrt(nb);
  double ca = 1 - lambda, cb = lambda;  // lerp
  if (na > 0 && nb > 0 && std::isfinite(na) && std::isfinite(nb)) {
    double diff = 0, sum = 0;
    for (index_t j = 0; j < per; ++j) {
      const double ua = double(a[j]) / na, ub = double(b[j]) / nb;
      diff += (ua - ub) * (ua - ub), sum += (ua + ub) * (ua + ub);
    }
    const double theta = 2 * std::atan2(std::sqrt(diff), std::sqrt(sum));
    const double st = std::sin(theta);
    if (st >= 1e-6) ca = std::sin((1 - lambda) * theta) / st, cb = std::sin(lambda * theta) / st;
  }
  for (index_t j = 0; j < per; ++j) out[j] = static_cast<T>(ca * double(a[j]) + cb * double(b[j]));
}
}  // namespace detail

/// (1 - lambda) a + lambda b, elementwise; a and b of one shape.
template <class T>
tensor<T> lerp(const tensor<T>& a, const tensor<T>& b, std::type_identity_t<T> lambda) {
  static_assert(std::is_floating_point_v<T>, "lerp: T must be a floating-point type");
  require_same_shape(a.shape(), b.shape(), "lerp");
  tensor<T> out;
  out.resize(a.shape());
  const double l = double(lambda);
  for (index_t i = 0; i < a.size(); ++i) out[i] = static_cast<T>((1 - l) * double(a[i]) + l * double(b[i]));
  return out;
}

/// Spherical interpolation of each sample of a and b (batches [N, ...] of one
/// shape); see the header comment.
template <class T>
tensor<T> slerp(const tensor<T>& a, const tensor<T>& b, std::type_identity_t<T> lambda) {
  static_assert(std::is_floating_point_v<T>, "slerp: T must be a floating-point type");
  detail::check_interpolation_pair(a, b, "slerp");
  tensor<T> out;
  out.resize(a.shape());
  const index_t n = a.extent(0), per = a.shape().sample_size();
  for (index_t s = 0; s < n; ++s)
    detail::slerp_sample(a.data() + s * per, b.data() + s * per, out.data() + s * per, per, double(lambda));
  return out;
}

/// The batch [count, ...] of slerp(a, b, k / (count - 1)), k = 0 .. count-1,
/// between two samples a, b of shape [1, ...]: the first is a, the last b.
template <class T>
tensor<T> slerp_path(const tensor<T>& a, const tensor<T>& b, index_t count) {
  static_assert(std::is_floating_point_v<T>, "slerp_path: T must be a floating-point type");
  detail::check_interpolation_pair(a, b, "slerp_path");
  EBM_REQUIRE(a.extent(0) == 1, "slerp_path: the end points must be single samples [1, ...], got ", a.shape());
  EBM_REQUIRE(count >= 2, "slerp_path: need at least 2 interpolants (the two end points), got ", count);
  tensor<T> out;
  out.resize(a.shape().with(0, count));
  const index_t per = a.size();
  for (index_t k = 0; k < count; ++k)
    detail::slerp_sample(a.data(), b.data(), out.data() + k * per, per,
                         k == count - 1 ? 1.0 : double(k) / double(count - 1));
  return out;
}

}  // namespace ebm
