#include <doctest/doctest.h>

#include <cmath>
#include <ebm/energy/network.hpp>
#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/elementwise.hpp>
#include <ebm/nn/sequential.hpp>
#include <ebm/testing/derivative_check.hpp>
#include <string>
#include <string_view>

using namespace ebm;
using ebm::testing::check_derivatives;

namespace {

struct config {
  index_t n, cin, cout, h, w, k, s, p;
  std::string str() const {
    return "N=" + std::to_string(n) + " Cin=" + std::to_string(cin) + " Cout=" +
           std::to_string(cout) + " H=" + std::to_string(h) + " W=" + std::to_string(w) +
           " k=" + std::to_string(k) + " s=" + std::to_string(s) + " p=" + std::to_string(p);
  }
  index_t ho() const { return (h + 2 * p - k) / s + 1; }
  index_t wo() const { return (w + 2 * p - k) / s + 1; }
};

// The textbook definition, in double: z[n, o, i, j] = b[o] + sum_{c, u, v}
// W[o, c, u, v] x[n, c, i s - p + u, j s - p + v] (zero outside the image).
template <class F>
void for_each_tap(const config& c, F&& f) {
  for (index_t n = 0; n < c.n; ++n)
    for (index_t o = 0; o < c.cout; ++o)
      for (index_t i = 0; i < c.ho(); ++i)
        for (index_t j = 0; j < c.wo(); ++j)
          for (index_t ch = 0; ch < c.cin; ++ch)
            for (index_t u = 0; u < c.k; ++u)
              for (index_t v = 0; v < c.k; ++v) {
                const index_t ih = i * c.s - c.p + u, iw = j * c.s - c.p + v;
                if (ih < 0 || ih >= c.h || iw < 0 || iw >= c.w) continue;
                const index_t xi = ((n * c.cin + ch) * c.h + ih) * c.w + iw;
                const index_t wi = ((o * c.cin + ch) * c.k + u) * c.k + v;
                const index_t yi = ((n * c.cout + o) * c.ho() + i) * c.wo() + j;
                f(xi, wi, yi);
              }
}

tensor<double> naive_forward(const config& c, const tensor<double>& x, const tensor<double>& w,
                             const tensor<double>* b) {
  tensor<double> z(shape{c.n, c.cout, c.ho(), c.wo()});
  if (b)
    for (index_t i = 0; i < z.size(); ++i) z[i] = (*b)[(i / (c.ho() * c.wo())) % c.cout];
  for_each_tap(c, [&](index_t xi, index_t wi, index_t yi) { z[yi] += w[wi] * x[xi]; });
  return z;
}

struct naive_grads {
  tensor<double> gx, gw, gb;
};
naive_grads naive_backward(const config& c, const tensor<double>& x, const tensor<double>& w,
                           const tensor<double>& gz) {
  naive_grads g{tensor<double>(x.shape()), tensor<double>(w.shape()), tensor<double>(shape{c.cout})};
  for_each_tap(c, [&](index_t xi, index_t wi, index_t yi) {
    g.gx[xi] += w[wi] * gz[yi];
    g.gw[wi] += x[xi] * gz[yi];
  });
  for (index_t i = 0; i < gz.size(); ++i) g.gb[(i / (c.ho() * c.wo())) % c.cout] += gz[i];
  return g;
}

template <class T>
tensor<T> random_tensor(const shape& s, std::uint64_t seed) {
  tensor<T> t(s);
  philox rng(seed);
  rng.fill_normal<T>(t.span());
  return t;
}

template <class T>
double max_rel_diff(const tensor<T>& a, const tensor<double>& ref) {
  REQUIRE(a.shape() == ref.shape());
  double scale = 1e-30, err = 0;
  for (index_t i = 0; i < ref.size(); ++i) scale = std::max(scale, std::abs(ref[i]));
  for (index_t i = 0; i < ref.size(); ++i) err = std::max(err, std::abs(double(a[i]) - ref[i]));
  return err / scale;
}

// Runs the layer (scalar T, `threads` threads, activation Act) against the
// naive reference: forward values, and backward with grad::both.
template <class T, class Act>
void compare_with_naive(const config& c, bool bias, int threads, double tol) {
  CAPTURE(c.str());
  CAPTURE(bias);
  CAPTURE(threads);
  nn::conv2d<T, cpu, Act> layer(c.cin, c.cout, c.k, c.s, c.p, bias, cpu(threads));
  const tensor<double> xd = random_tensor<double>(shape{c.n, c.cin, c.h, c.w}, 11);
  const tensor<double> wd(tensor_cast<double>(layer.weight()));
  const tensor<double> bd = bias ? tensor_cast<double>(layer.bias()) : tensor<double>();
  const tensor<T> x = tensor_cast<T>(xd);

  const tensor<double> z = naive_forward(c, xd, wd, bias ? &bd : nullptr);
  Act act;
  tensor<double> y_ref(z.shape()), dfz(z.shape());
  for (index_t i = 0; i < z.size(); ++i) y_ref[i] = act.f(z[i]), dfz[i] = act.df(z[i]);
  const tensor<T>& y = layer.forward(x);
  CHECK(y.shape() == y_ref.shape());
  CHECK(max_rel_diff(y, y_ref) < tol);

  const tensor<double> gyd = random_tensor<double>(z.shape(), 12);
  tensor<double> gz(gyd);
  for (index_t i = 0; i < gz.size(); ++i) gz[i] *= dfz[i];
  const naive_grads ref = naive_backward(c, xd, wd, gz);
  zero_grad(layer);
  const tensor<T> gy = tensor_cast<T>(gyd);
  const tensor<T>& gx = layer.backward(gy, grad::both);
  CHECK(max_rel_diff(gx, ref.gx) < tol);
  auto params = collect_params(layer);
  CHECK(max_rel_diff(*params[0].grad, ref.gw) < tol);
  if (bias) CHECK(max_rel_diff(*params[1].grad, ref.gb) < tol);
}

const config value_configs[] = {
    {2, 3, 4, 7, 6, 3, 1, 1},    // odd/even sizes, same padding
    {3, 2, 5, 8, 8, 3, 2, 1},    // stride 2
    {5, 3, 2, 4, 4, 3, 1, 1},    // tiny planes: several samples per GEMM, uneven split
    {4, 2, 3, 9, 7, 4, 2, 1},    // 4x4 kernel, stride 2
    {3, 4, 3, 6, 5, 4, 1, 0},    // 4x4 kernel, no padding
    {3, 5, 6, 16, 16, 1, 1, 0},  // pointwise (1x1) on a large plane: plain GEMM
    {3, 5, 6, 5, 3, 1, 1, 0},    // 1x1 on a small plane: batched GEMM
    {2, 3, 2, 6, 6, 1, 2, 0},    // 1x1 with stride 2
    {2, 2, 2, 3, 3, 3, 1, 2},    // padding larger than needed
    {1, 2, 3, 4, 4, 4, 1, 0},    // output 1x1
    // Wide enough for the direct (im2col-free) float path on AVX-512:
    {2, 3, 10, 4, 46, 3, 1, 1},   // channels not a multiple of the 8-row panel
    {3, 5, 9, 16, 16, 3, 1, 1},   // 16x16, the grid has 2 extra columns per row
    {2, 4, 8, 32, 32, 3, 2, 1},   // stride 2 (phase-split input)
    {2, 3, 16, 32, 32, 1, 1, 0},  // 1x1 on 32x32
    {2, 3, 5, 2, 140, 4, 1, 1},   // 4x4 kernel, stride 1
    {2, 3, 6, 6, 94, 4, 2, 1},    // 4x4 kernel, stride 2
    {2, 3, 8, 13, 97, 3, 2, 0},   // stride 2, no padding, odd sizes
    {1, 2, 8, 9, 143, 3, 3, 1},   // stride 3
    // Winograd (float) and its neighbours: odd plane, stride 2.
    {2, 8, 8, 16, 16, 3, 1, 1},
    {3, 10, 12, 8, 12, 3, 1, 1},
    {2, 8, 8, 9, 9, 3, 1, 1},
    // Filter gradients of the direct kernel: channel vectors 4 + 1, 3 and 2.
    {2, 3, 70, 9, 9, 3, 1, 1},
    {2, 4, 40, 10, 8, 3, 1, 1},
    {3, 3, 32, 16, 16, 4, 2, 1},
    {2, 3, 33, 16, 16, 1, 1, 0},
    // Dense: the kernel covers the unpadded input.
    {3, 4, 5, 4, 4, 4, 1, 0},
    {2, 3, 4, 3, 3, 3, 2, 0},
    {5, 2, 3, 1, 1, 1, 1, 0},
};
using path = conv_kernels<cpu>::conv_path;
struct fast_config {
  config c;
  path forward, backward_data;  // expected on AVX-512 for float
};
const fast_config fast_configs[] = {
    {{2, 3, 10, 4, 46, 3, 1, 1}, path::direct, path::direct},
    {{3, 5, 9, 16, 16, 3, 1, 1}, path::direct, path::winograd},  // gx from 9 channels
    {{2, 4, 8, 32, 32, 3, 2, 1}, path::direct, path::panel},  // strided gx: im2col panels
    {{2, 3, 16, 32, 32, 1, 1, 0}, path::direct, path::direct},
    {{2, 3, 5, 2, 140, 4, 1, 1}, path::direct, path::direct},
    {{2, 3, 6, 6, 94, 4, 2, 1}, path::direct, path::panel},
    {{2, 3, 8, 13, 97, 3, 2, 0}, path::direct, path::panel},
    {{1, 2, 8, 9, 143, 3, 3, 1}, path::direct, path::panel},
    {{3, 3, 7, 8, 8, 3, 1, 1}, path::panel, path::panel},    // 8x8 planes
    {{2, 5, 13, 16, 16, 3, 2, 1}, path::panel, path::panel},  // 16 -> 8, stride 2
    {{2, 2, 3, 9, 9, 2, 1, 0}, path::panel, path::direct},    // even kernel, 8x8 output
    {{5, 6, 9, 8, 8, 3, 2, 1}, path::panel, path::panel},     // 4x4 planes: 4 samples per chunk
    {{70, 4, 5, 4, 4, 4, 1, 0}, path::dense, path::dense},    // the kernel covers the input:
    {{64, 8, 12, 4, 4, 4, 1, 0}, path::dense, path::dense},   // a dense layer on the samples
    {{40, 4, 7, 4, 4, 4, 1, 0}, path::dense, path::dense},
    {{3, 4, 6, 3, 3, 3, 2, 0}, path::dense, path::dense},     // any stride
    {{5, 4, 6, 5, 5, 4, 1, 0}, path::panel, path::panel},     // 2x2 output: not dense
    {{5, 4, 6, 4, 4, 4, 1, 1}, path::panel, path::panel},     // padded: not dense
    {{3, 2, 3, 5, 7, 3, 1, 0}, path::panel, path::panel},     // 3x5 planes: 64 samples per chunk
    // Winograd: 3x3, stride 1, padding 1, even planes >= 8x8, >= 8 input
    // channels (of the convolution the pass computes); F(4x4, 3x3) when both
    // sides are multiples of 4, else F(2x2, 3x3).
    {{2, 8, 16, 16, 16, 3, 1, 1}, path::winograd, path::winograd},
    {{3, 12, 9, 8, 8, 3, 1, 1}, path::winograd, path::winograd},   // 8x8: several samples per chunk
    {{2, 9, 5, 8, 12, 3, 1, 1}, path::winograd, path::panel},      // gx from 5 channels: too few
    {{2, 16, 24, 32, 32, 3, 1, 1}, path::winograd, path::winograd},
    {{3, 8, 8, 10, 8, 3, 1, 1}, path::winograd, path::winograd},   // 5 x 4 blocks
    {{2, 8, 8, 8, 24, 3, 1, 1}, path::winograd, path::winograd},   // 12 blocks a row
    {{1, 8, 11, 8, 40, 3, 1, 1}, path::winograd, path::winograd},  // 20 blocks a row: 16 + 4
    {{5, 10, 8, 12, 12, 3, 1, 1}, path::winograd, path::winograd}, // uneven split over threads
    {{2, 8, 16, 18, 14, 3, 1, 1}, path::winograd, path::winograd},  // F(2x2): 18 rows
    {{1, 8, 11, 10, 38, 3, 1, 1}, path::winograd, path::winograd},  // F(2x2): 19 blocks a row
    {{1, 8, 9, 8, 72, 3, 1, 1}, path::winograd, path::winograd},    // F(4x4): 18 blocks a row
    {{1, 32, 16, 64, 64, 3, 1, 1}, path::winograd, path::winograd}, // F(4x4): blocks of tile rows
    {{1, 32, 32, 12, 88, 3, 1, 1}, path::winograd, path::winograd}, // F(4x4): 3 tile rows in blocks of 2:
                                                                     // the last block uses part of the lane table
};

}  // namespace

TEST_CASE("conv2d: forward and backward agree with a naive direct convolution") {
  for (const config& c : value_configs)
    for (bool bias : {true, false})
      for (int threads : {1, 2, 3}) {
        compare_with_naive<double, act::identity>(c, bias, threads, 1e-13);
        compare_with_naive<double, act::swish>(c, bias, threads, 1e-13);
        compare_with_naive<float, act::swish>(c, bias, threads, 2e-5);
        compare_with_naive<float, act::softplus>(c, bias, threads, 2e-5);
      }
}

TEST_CASE("conv2d: float fast paths agree with double in all four passes") {
  for (const auto& [c, fwd_path, bwd_path] : fast_configs) {
    CAPTURE(c.str());
    const conv_geometry g = conv_geometry::make(shape{c.n, c.cin, c.h, c.w}, c.cout, c.k, c.s, c.p);
#if defined(__AVX512F__)
    CHECK(conv_kernels<cpu>::forward_path<float>(g) == fwd_path);
    CHECK(conv_kernels<cpu>::backward_data_path<float>(g) == bwd_path);
#else
    (void)fwd_path, (void)bwd_path;
#endif
    const path generic = conv_kernels<cpu>::is_dense(g) ? path::dense : path::gemm;
    CHECK(conv_kernels<cpu>::forward_path<double>(g) == generic);
    CHECK(conv_kernels<cpu>::backward_data_path<double>(g) == generic);
#if defined(__AVX512F__)
    CHECK(conv_kernels<cpu>::filter_gradient_direct<float>(g) == (g.out_plane() >= 64));
#endif
    CHECK_FALSE(conv_kernels<cpu>::filter_gradient_direct<double>(g));
    CHECK(conv_kernels<cpu>::forward_path<float>(g, 0) != path::winograd);
    CHECK(conv_kernels<cpu>::backward_data_path<float>(g, 0) != path::winograd);
    // Winograd blocks of 4 (the default), 2 and none; threads 1 and 2.
    for (auto [threads, block] : {std::pair{1, 4}, std::pair{2, 4}, std::pair{1, 2}, std::pair{2, 0}}) {
      CAPTURE(threads);
      CAPTURE(block);
      cpu dev(threads);
      dev.set_winograd_block(block);
      nn::conv2d<double, cpu, act::swish> ref(c.cin, c.cout, c.k, c.s, c.p, true, dev);
      nn::conv2d<float, cpu, act::swish> fast(c.cin, c.cout, c.k, c.s, c.p, true, dev);
      fast.weight() = tensor_cast<float>(ref.weight());
      fast.bias() = tensor_cast<float>(ref.bias());
      const shape in{c.n, c.cin, c.h, c.w}, out = ref.output_shape(in);
      const tensor<double> x = random_tensor<double>(in, 1), dx = random_tensor<double>(in, 2);
      const tensor<double> gy = random_tensor<double>(out, 3), dgy = random_tensor<double>(out, 4);
      const tensor<float> xf = tensor_cast<float>(x), dxf = tensor_cast<float>(dx);
      const tensor<float> gyf = tensor_cast<float>(gy), dgyf = tensor_cast<float>(dgy);
      CHECK(max_rel_diff(fast.forward(xf), tensor<double>(ref.forward(x))) < 1e-5);
      zero_grad(ref);
      zero_grad(fast);
      CHECK(max_rel_diff(fast.backward(gyf, grad::both), tensor<double>(ref.backward(gy, grad::both))) < 1e-5);
      CHECK(max_rel_diff(fast.forward_tangent(dxf), tensor<double>(ref.forward_tangent(dx))) < 1e-5);
      CHECK(max_rel_diff(fast.backward_tangent(dgyf, grad::both),
                         tensor<double>(ref.backward_tangent(dgy, grad::both))) < 1e-5);
      auto pr = collect_params(ref);
      auto pf = collect_params(fast);
      for (std::size_t i = 0; i < pr.size(); ++i) CHECK(max_rel_diff(*pf[i].grad, *pr[i].grad) < 1e-5);
    }
  }
}

TEST_CASE("conv2d: Winograd's block size follows the plane") {
  using K = conv_kernels<cpu>;
  CHECK(K::winograd_tile(32, 32) == 4);
  CHECK(K::winograd_tile(8, 8) == 4);
  CHECK(K::winograd_tile(8, 72) == 4);
  CHECK(K::winograd_tile(10, 8) == 2);
  CHECK(K::winograd_tile(18, 14) == 2);
  CHECK(K::winograd_tile(8, 38) == 2);
  CHECK(K::winograd_tile(32, 32, 2) == 2);
  cpu dev(1), copy = dev;
  CHECK(dev.winograd_block() == 4);
  copy.set_winograd_block(2);  // copies share the setting
  CHECK(dev.winograd_block() == 2);
  CHECK_THROWS_WITH_AS(dev.set_winograd_block(3), doctest::Contains("expected 0, 2 or 4, got 3"),
                       std::invalid_argument);
}


// The prepared layout against its definition (direct_plan's comment): sub-
// plane (c, rh, rw), element (r, q) holds xpad[c, r s + rh, q s + rw], where
// xpad is the input (times the scale) zero-padded, and the overrun margin
// after the sub-planes is zero.  float goes through the vectorised
// prepare_phases on AVX-512 machines, double through the scalar loops; both
// are compared with the definition exactly (a float product of two floats
// is the rounded exact product either way).
TEST_CASE("conv2d: the prepared layout holds the padded input, split into stride phases") {
  philox rng(11);
  auto check = [&](auto zero, index_t cin, index_t h, index_t w, index_t k, index_t s, index_t p, bool scaled) {
    using T = decltype(zero);
    const detail::direct_plan plan = detail::direct_plan::make(cin, 1, h, w, k, s, p);
    tensor<T> x(shape{cin, h, w}), sc(shape{cin, h, w});
    rng.fill_uniform<T>(x.span(), T(-1), T(1));
    rng.fill_uniform<T>(sc.span(), T(0.5), T(2));
    std::vector<T> out(static_cast<std::size_t>(plan.prepared + plan.row_buffer()), T(7));
    plan.prepare(x.data(), scaled ? sc.data() : nullptr, out.data());
    index_t bad = 0;
    for (index_t c = 0; c < cin; ++c)
      for (index_t rh = 0; rh < s; ++rh)
        for (index_t rw = 0; rw < s; ++rw)
          for (index_t r = 0; r < plan.hq; ++r)
            for (index_t q = 0; q < plan.wq; ++q) {
              const index_t i = r * s + rh - p, j = q * s + rw - p;
              T want = 0;
              if (i >= 0 && i < h && j >= 0 && j < w) {
                const index_t at = (c * h + i) * w + j;
                want = scaled ? x[at] * sc[at] : x[at];
              }
              const T got = out[static_cast<std::size_t>(((c * s + rh) * s + rw) * plan.sub_plane() + r * plan.wq + q)];
              bad += got != want;
            }
    for (index_t i = cin * s * s * plan.sub_plane(); i < plan.prepared; ++i) bad += out[static_cast<std::size_t>(i)] != T(0);
    INFO("cin=", cin, " h=", h, " w=", w, " k=", k, " s=", s, " p=", p, " scaled=", scaled, " T=", sizeof(T));
    CHECK(bad == 0);
  };
  for (index_t s : {1, 2, 4})
    for (index_t w : {1, 5, 8, 15, 16, 17, 32, 33, 47, 70})
      for (index_t p : {0, 1, 2, 3, 16, 17})
        for (bool scaled : {false, true}) {
          const index_t k = s == 4 ? 6 : 3;
          if (w + 2 * p < k) continue;
          check(float{}, 2, 7, w, k, s, p, scaled);
          check(double{}, 2, 7, w, k, s, p, scaled);
        }
}
TEST_CASE("conv2d: the derivative contract, every kernel/stride/padding/size/bias/activation") {
  int checked = 0;
  for (index_t k : {1, 3, 4})
    for (index_t s : {1, 2})
      for (index_t p : {0, 1})
        for (index_t hw : {5, 6})
          for (bool bias : {true, false}) {
            const config c{2, 2, 3, hw, hw + 1, k, s, p};
            CAPTURE(c.str());
            CAPTURE(bias);
            const shape in{c.n, c.cin, c.h, c.w};
            nn::conv2d<double> plain(c.cin, c.cout, k, s, p, bias);
            auto r = check_derivatives(plain, in);
            INFO("identity: ", r.str());
            CHECK(r.ok());
            nn::conv2d<double, cpu, act::swish> fused(c.cin, c.cout, k, s, p, bias, cpu(2));
            r = check_derivatives(fused, in);
            INFO("swish: ", r.str());
            CHECK(r.ok());
            checked += 2;
          }
  CHECK(checked == 96);
}

TEST_CASE("conv2d: other fused activations pass the checker") {
  const shape in{3, 2, 5, 5};
  nn::conv2d<double, cpu, act::gelu> g(2, 3, 3, 1, 1);
  auto r = check_derivatives(g, in);
  INFO(r.str());
  CHECK(r.ok());
  nn::conv2d<double, cpu, act::softplus> sp(2, 3, 3, 2, 1, true, cpu(2));
  r = check_derivatives(sp, in);
  INFO(r.str());
  CHECK(r.ok());
  nn::conv2d<double, cpu, act::celu> ce(2, 3, 1, 1, 0, false, cpu(1), act::celu{0.5});
  r = check_derivatives(ce, in);
  INFO(r.str());
  CHECK(r.ok());
}

TEST_CASE("conv2d: fused swish equals conv followed by the swish layer") {
  nn::conv2d<double, cpu, act::swish> fused(3, 4, 3, 1, 1);
  nn::conv2d<double> plain(3, 4, 3, 1, 1);
  plain.weight() = fused.weight();
  plain.bias() = fused.bias();
  nn::sequential<nn::conv2d<double>, nn::swish<double>> chain(plain, nn::swish<double>{});
  const tensor<double> x = random_tensor<double>(shape{2, 3, 6, 6}, 5);
  const tensor<double> gy = random_tensor<double>(shape{2, 4, 6, 6}, 6);
  const tensor<double> y1(fused.forward(x)), y2(chain.forward(x));
  const tensor<double> g1(fused.backward(gy)), g2(chain.backward(gy));
  for (index_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == doctest::Approx(y2[i]).epsilon(1e-14));
  for (index_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-12));
}

TEST_CASE("conv2d: the fused swish is finite and accurate in the tails") {
  for (int threads : {1, 2}) {
    nn::conv2d<float, cpu, act::swish> l(1, 1, 1, 1, 0, true, cpu(threads));
    l.weight()[0] = 1;
    l.bias()[0] = 0;
    const float v[] = {-1000, -100, -30, -5, -0.5f, 0, 0.5f, 5, 30, 100, 1000};
    tensor<float> x(shape{1, 1, 1, 11});
    for (int i = 0; i < 11; ++i) x[i] = v[i];
    const tensor<float> y(l.forward(x));
    tensor<float> ones(y.shape(), 1.0f);
    const tensor<float> gx(l.backward(ones));  // = f'(x)
    for (int i = 0; i < 11; ++i) {
      CAPTURE(v[i]);
      CHECK(std::isfinite(y[i]));
      CHECK(std::isfinite(gx[i]));
      CHECK(y[i] == doctest::Approx(act::swish{}.f(double(v[i]))).epsilon(1e-6).scale(1));
      CHECK(gx[i] == doctest::Approx(act::swish{}.df(double(v[i]))).epsilon(1e-6).scale(1));
    }
  }
}

TEST_CASE("conv2d: the fused swish epilogue is accurate to a few ulp") {
  const index_t n = 6001;  // z in [-30, 30]
  tensor<float> acc(shape{n}), y(shape{n}), z(shape{n}), d(shape{n});
  for (index_t i = 0; i < n; ++i) acc[i] = -30.0f + 0.01f * float(i);
  ebm::detail::conv_activation_epilogue<act::swish>::apply(act::swish{}, acc.data(), 0.25f,
                                                           y.data(), z.data(), d.data(), n);
  double worst_y = 0, worst_d = 0;
  for (index_t i = 0; i < n; ++i) {
    const double v = double(acc[i]) + 0.25;
    CHECK(z[i] == float(v));
    worst_y = std::max(worst_y, std::abs(y[i] - act::swish{}.f(v)) / std::max(std::abs(act::swish{}.f(v)), 1e-30));
    worst_d = std::max(worst_d, std::abs(d[i] - act::swish{}.df(v)) / std::max(std::abs(act::swish{}.df(v)), 1e-30));
  }
  CHECK(worst_y < 1e-6);
  CHECK(worst_d < 1e-5);  // f' crosses zero near z = -1.28: relative error grows there
}

TEST_CASE("conv2d: buffers are reused across batch sizes and thread counts give equal results") {
  nn::conv2d<float, cpu, act::swish> l1(3, 8, 3, 1, 1, true, cpu(1));
  nn::conv2d<float, cpu, act::swish> l2(3, 8, 3, 1, 1, true, cpu(2));
  l2.weight() = l1.weight();
  l2.bias() = l1.bias();
  for (index_t n : {6, 2, 9, 1, 6}) {
    CAPTURE(n);
    const tensor<float> x = random_tensor<float>(shape{n, 3, 10, 10}, 40 + std::uint64_t(n));
    const tensor<float> gy = random_tensor<float>(shape{n, 8, 10, 10}, 50 + std::uint64_t(n));
    const tensor<float> y1(l1.forward(x)), y2(l2.forward(x));
    const tensor<float> g1(l1.backward(gy)), g2(l2.backward(gy));
    for (index_t i = 0; i < y1.size(); ++i) CHECK(y1[i] == doctest::Approx(y2[i]).epsilon(1e-6));
    for (index_t i = 0; i < g1.size(); ++i) CHECK(g1[i] == doctest::Approx(g2[i]).epsilon(1e-5));
  }
}

// Every path keeps its packed (or Winograd-transformed) weights between
// calls, with the raw weights they came from; a weight changed in place (an
// optimizer step) must be seen by the next call on every path, forward and
// input gradient alike, exactly as by a fresh layer.
TEST_CASE("conv2d: weights changed in place are packed anew, on every path") {
  struct geometry {
    index_t cin, cout, k, s, p, size;
    int winograd_block;
    path fwd, bwd;
  };
  const geometry geometries[] = {
      {16, 16, 3, 1, 1, 8, 4, path::winograd, path::winograd},
      {16, 16, 3, 1, 1, 32, 0, path::direct, path::direct},
      {16, 16, 3, 2, 1, 32, 4, path::direct, path::panel},  // the strided layers
      {16, 16, 3, 1, 1, 4, 4, path::panel, path::panel},    // the top block's 3x3
      {16, 16, 4, 1, 0, 4, 4, path::dense, path::dense},    // and 4x4 (reads W itself)
  };
  for (const geometry& ge : geometries) {
    cpu dev(1);
    dev.set_winograd_block(ge.winograd_block);
    CAPTURE(ge.k);
    CAPTURE(ge.s);
    CAPTURE(ge.size);
#if defined(__AVX512F__)
    const conv_geometry g = conv_geometry::make(shape{2, ge.cin, ge.size, ge.size}, ge.cout, ge.k, ge.s, ge.p);
    CHECK(conv_kernels<cpu>::forward_path<float>(g, ge.winograd_block) == ge.fwd);
    CHECK(conv_kernels<cpu>::backward_data_path<float>(g, ge.winograd_block) == ge.bwd);
#endif
    nn::conv2d<float, cpu, act::swish> kept(ge.cin, ge.cout, ge.k, ge.s, ge.p, true, dev);
    const tensor<float> x = random_tensor<float>(shape{2, ge.cin, ge.size, ge.size}, 61);
    const tensor<float> gy = random_tensor<float>(kept.output_shape(x.shape()), 62);
    for (int round = 0; round < 3; ++round) {
      CAPTURE(round);
      if (round > 0) kept.weight()[round * 37] += 0.25f;  // one weight, in place
      nn::conv2d<float, cpu, act::swish> fresh(ge.cin, ge.cout, ge.k, ge.s, ge.p, true, dev);
      fresh.weight() = kept.weight();
      fresh.bias() = kept.bias();
      const tensor<float> y1(kept.forward(x)), y2(fresh.forward(x));
      const tensor<float> g1(kept.backward(gy)), g2(fresh.backward(gy));
      index_t differ = 0;
      for (index_t i = 0; i < y1.size(); ++i) differ += y1[i] != y2[i];
      for (index_t i = 0; i < g1.size(); ++i) differ += g1[i] != g2[i];
      CHECK(differ == 0);
    }
  }
}

TEST_CASE("conv2d: PyTorch layout and default initialisation") {
  nn::conv2d<float> l(3, 5, 4, 2, 1);
  CHECK(l.weight().shape() == shape{5, 3, 4, 4});
  CHECK(l.bias().shape() == shape{5});
  const float bound = 1.0f / std::sqrt(48.0f);
  float lo = 1, hi = -1;
  for (float v : l.weight()) lo = std::min(lo, v), hi = std::max(hi, v);
  for (float v : l.bias()) lo = std::min(lo, v), hi = std::max(hi, v);
  CHECK(lo >= -bound);
  CHECK(hi <= bound);
  CHECK(hi - lo > bound);  // actually spread over the interval
  auto params = collect_params(l);
  REQUIRE(params.size() == 2);
  CHECK(params[0].name == "weight");
  CHECK(params[1].name == "bias");
  CHECK(param_count(l) == 5 * 3 * 16 + 5);
  nn::conv2d<float> nb(3, 5, 3, 1, 1, false);
  CHECK(collect_params(nb).size() == 1);
  CHECK(l.output_shape(shape{7, 3, 32, 32}) == shape{7, 5, 16, 16});
  // Re-initialising from a seed reproduces the parameters.
  nn::conv2d<float> a(3, 4, 3), b(3, 4, 3);
  nn::initialize(a, 3);
  nn::initialize(b, 3);
  for (index_t i = 0; i < a.weight().size(); ++i) CHECK(a.weight()[i] == b.weight()[i]);
}

TEST_CASE("conv2d: bad inputs are reported with what was expected") {
  nn::conv2d<float> l(3, 4, 3);
  tensor<float> wrong_channels(shape{2, 2, 8, 8});
  CHECK_THROWS_WITH_AS(l.forward(wrong_channels), doctest::Contains("expected 3 input channels"),
                       ebm::error);
  tensor<float> wrong_rank(shape{2, 3, 8});
  CHECK_THROWS_WITH_AS(l.forward(wrong_rank), doctest::Contains("of rank 4, got [2, 3, 8]"),
                       ebm::error);
  tensor<float> too_small(shape{2, 3, 2, 8});
  CHECK_THROWS_WITH_AS(l.forward(too_small),
                       doctest::Contains("is smaller than the 3x3 kernel"), ebm::error);
  nn::conv2d<float> padded(3, 4, 3, 1, 1);
  tensor<float> one_pixel(shape{2, 3, 1, 1});
  CHECK(padded.forward(one_pixel).shape() == shape{2, 4, 1, 1});

  tensor<float> ok(shape{2, 3, 8, 8});
  l.forward(ok);
  tensor<float> bad_gy(shape{2, 4, 5, 5});
  CHECK_THROWS_WITH_AS(l.backward(bad_gy), doctest::Contains("expected [2, 4, 6, 6] but got [2, 4, 5, 5]"),
                       ebm::error);
  tensor<float> bad_dx(shape{2, 3, 8, 7});
  CHECK_THROWS_WITH_AS(l.forward_tangent(bad_dx), doctest::Contains("expected [2, 3, 8, 8]"),
                       ebm::error);
  nn::conv2d<float> fresh(3, 4, 3);
  tensor<float> gy(shape{2, 4, 6, 6});
  CHECK_THROWS_WITH_AS(fresh.backward(gy), doctest::Contains("call forward first"), ebm::error);
  CHECK_THROWS_WITH_AS(l.backward_tangent(gy), doctest::Contains("call forward, backward"),
                       ebm::error);

  CHECK_THROWS_WITH_AS(nn::conv2d<float>(0, 4, 3), doctest::Contains("channel counts must be positive"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(nn::conv2d<float>(3, 4, 0), doctest::Contains("kernel size must be positive"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(nn::conv2d<float>(3, 4, 3, 0), doctest::Contains("stride must be positive"),
                       ebm::error);
  CHECK_THROWS_WITH_AS(nn::conv2d<float>(3, 4, 3, 1, -1),
                       doctest::Contains("padding must be non-negative"), ebm::error);
}

TEST_CASE("conv2d: a first_order_scope keeps backward bit-identical and refuses the tangent passes") {
  // Float on a Winograd-sized plane and double on the generic path.
  auto run = [](auto zero, index_t cin, index_t h) {
    using T = decltype(zero);
    nn::conv2d<T, cpu, act::swish> l(cin, 8, 3, 1, 1);
    const tensor<T> x = random_tensor<T>(shape{2, cin, h, h}, 11);
    const tensor<T> gy = random_tensor<T>(shape{2, 8, h, h}, 12);
    const tensor<T> y_full(l.forward(x)), g_full(l.backward(gy, grad::both));
    tensor<T> gw_full(l.weight().shape());
    ebm::visit_params(l, [&](std::string_view name, tensor<T>&, tensor<T>& g) {
      if (name == "weight") gw_full = g;
      g.zero();
    });
    CHECK_FALSE(first_order_scope::active());
    {
      first_order_scope outer;
      {
        first_order_scope inner;
        CHECK(first_order_scope::active());
      }
      CHECK(first_order_scope::active());  // nested scopes restore the outer state
      const tensor<T> y(l.forward(x)), g(l.backward(gy, grad::both));
      for (index_t i = 0; i < y.size(); ++i) REQUIRE(y[i] == y_full[i]);
      for (index_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == g_full[i]);
      ebm::visit_params(l, [&](std::string_view name, tensor<T>&, tensor<T>& gw) {
        if (name == "weight")
          for (index_t i = 0; i < gw.size(); ++i) REQUIRE(gw[i] == gw_full[i]);
      });
    }
    CHECK_FALSE(first_order_scope::active());
    CHECK_THROWS_WITH_AS(l.forward_tangent(x), doctest::Contains("ran inside a first_order_scope"), ebm::error);
    CHECK_THROWS_WITH_AS(l.backward_tangent(gy), doctest::Contains("ran inside a first_order_scope"), ebm::error);
    // A forward outside the scope makes the tangent passes available again.
    l.forward(x);
    l.backward(gy);
    CHECK(l.forward_tangent(x).shape() == y_full.shape());
    CHECK(l.backward_tangent(gy).shape() == x.shape());
  };
  run(0.0f, 8, 16);
  run(0.0, 3, 6);
}

TEST_CASE("network_energy: energy_and_grad runs first-order, with the same numbers as a full pass") {
  using conv = nn::conv2d<float, cpu, act::swish>;
  using net_t = nn::sequential<conv, nn::conv2d<float>>;
  net_t net(conv(8, 8, 3, 1, 1), nn::conv2d<float>(8, 1, 16));
  const tensor<float> x = random_tensor<float>(shape{3, 8, 16, 16}, 21);
  tensor<float> ones(shape{3, 1, 1, 1});
  ones.fill(1.0f);
  const tensor<float> e_full(net.forward(x)), g_full(net.backward(ones, grad::input));
  auto e = energy_of(net);
  tensor<float> g;
  const tensor<float> en(e.energy_and_grad(x, g));
  CHECK_FALSE(first_order_scope::active());
  for (index_t i = 0; i < en.size(); ++i) REQUIRE(en[i] == e_full[i]);
  for (index_t i = 0; i < g.size(); ++i) REQUIRE(g[i] == g_full[i]);
  CHECK_THROWS_WITH_AS(net.forward_tangent(x), doctest::Contains("first_order_scope"), ebm::error);
}
