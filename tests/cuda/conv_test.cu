// conv_kernels<cuda> (cuDNN) against conv_kernels<cpu>: forward with fused
// bias and activation, the scaled forward of tangents, backward-data,
// backward-filter and the bias gradient, on small geometries in float and
// double; then the conv2d layer on the device against the host layer.
#include <doctest/doctest.h>

#include <ebm/device/cpu/conv.hpp>
#include <ebm/nn/conv2d.hpp>
#include <ebm/nn/linear.hpp>
#include <ebm/nn/sequential.hpp>
#include <string>

#include "common.hpp"
#include "network_check.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {

struct config {
  index_t n, cin, cout, h, w, k, s, p;
};

std::string str(const config& c) {
  return "N=" + std::to_string(c.n) + " Cin=" + std::to_string(c.cin) + " Cout=" +
         std::to_string(c.cout) + " H=" + std::to_string(c.h) + " W=" + std::to_string(c.w) +
         " k=" + std::to_string(c.k) + " s=" + std::to_string(c.s) + " p=" + std::to_string(c.p);
}

const config configs[] = {
    {2, 3, 4, 7, 7, 3, 1, 1},  // CF-EBM's 3x3 "same" convolution
    {3, 2, 5, 8, 6, 3, 2, 1},  // strided, non-square image
    {2, 4, 3, 5, 5, 1, 1, 0},  // 1x1
    {1, 3, 2, 8, 8, 4, 2, 1},  // 4x4 stride 2 (downsampling)
    {2, 1, 3, 6, 9, 5, 1, 2},  // large kernel, wide padding
    {4, 6, 8, 16, 16, 3, 1, 1},
};

/// Tolerance relative to (1 + |reference|), scaled by the length of the sums.
template <class T>
double conv_tol(const conv_geometry& g) {
  return tol<T>(2e-6, 1e-13) * double(g.patch() + g.batch * g.out_plane());
}

template <class T, class Act>
void check_kernels(const config& c, const Act& act) {
  CAPTURE(str(c));
  CAPTURE(sizeof(T));
  CAPTURE(std::string(Act::name));
  const cuda dev;
  const cpu host;
  const conv_geometry g = conv_geometry::make(shape{c.n, c.cin, c.h, c.w}, c.cout, c.k, c.s, c.p);
  const double eps = conv_tol<T>(g);
  philox rng(100 + c.k);
  const tensor<T> x = uniform<T>(g.input_shape(), rng);
  const tensor<T> w = uniform<T>(shape{c.cout, c.cin, c.k, c.k}, rng);
  const tensor<T> b = uniform<T>(shape{c.cout}, rng);
  const tensor<T> gy = uniform<T>(g.output_shape(), rng);
  const tensor<T> scale = uniform<T>(g.output_shape(), rng, T(0.5), T(1.5));
  const auto xd = to_device(x), wd = to_device(w), bd = to_device(b), gyd = to_device(gy),
             scaled = to_device(scale);
  conv_kernels<cpu>::workspace<T> hws;
  conv_kernels<cuda>::workspace<T> dws;

  {
    INFO("forward with bias and activation, storing z and f'(z)");
    tensor<T> y(g.output_shape()), z(g.output_shape()), d(g.output_shape());
    tensor<T, cuda> yd(g.output_shape()), zd(g.output_shape()), dd(g.output_shape());
    conv_kernels<cpu>::forward(host, g, x.data(), w.data(), b.data(), act, y.data(), z.data(),
                               d.data(), hws);
    conv_kernels<cuda>::forward(dev, g, xd.data(), wd.data(), bd.data(), act, yd.data(),
                                zd.data(), dd.data(), dws);
    CHECK(max_rel_diff(zd, z) <= eps);
    CHECK(max_rel_diff(yd, y) <= eps);
    CHECK(max_rel_diff(dd, d) <= eps);
  }
  {
    INFO("forward without bias, y only");
    tensor<T> y(g.output_shape());
    tensor<T, cuda> yd(g.output_shape());
    conv_kernels<cpu>::forward(host, g, x.data(), w.data(), static_cast<const T*>(nullptr), act,
                               y.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr), hws);
    conv_kernels<cuda>::forward(dev, g, xd.data(), wd.data(), static_cast<const T*>(nullptr), act,
                                yd.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr),
                                dws);
    CHECK(max_rel_diff(yd, y) <= eps);
  }
  {
    INFO("forward_scaled with and without a scale");
    tensor<T> y(g.output_shape()), raw(g.output_shape());
    tensor<T, cuda> yd(g.output_shape()), rawd(g.output_shape());
    conv_kernels<cpu>::forward_scaled(host, g, x.data(), w.data(), scale.data(), y.data(),
                                      raw.data(), hws);
    conv_kernels<cuda>::forward_scaled(dev, g, xd.data(), wd.data(), scaled.data(), yd.data(),
                                       rawd.data(), dws);
    CHECK(max_rel_diff(rawd, raw) <= eps);
    CHECK(max_rel_diff(yd, y) <= eps);
    conv_kernels<cpu>::forward_scaled(host, g, x.data(), w.data(), static_cast<const T*>(nullptr),
                                      y.data(), static_cast<T*>(nullptr), hws);
    conv_kernels<cuda>::forward_scaled(dev, g, xd.data(), wd.data(),
                                       static_cast<const T*>(nullptr), yd.data(),
                                       static_cast<T*>(nullptr), dws);
    CHECK(max_rel_diff(yd, y) <= eps);
  }
  {
    INFO("backward: data, filter (accumulated) and bias (accumulated)");
    for (bool scaled_pass : {false, true}) {
      CAPTURE(scaled_pass);
      const T* sc = scaled_pass ? scale.data() : nullptr;
      const T* scd = scaled_pass ? scaled.data() : nullptr;
      tensor<T> gx(g.input_shape());
      tensor<T> gw = uniform<T>(w.shape(), rng), gb = uniform<T>(b.shape(), rng);
      tensor<T, cuda> gxd(g.input_shape());
      auto gwd = to_device(gw), gbd = to_device(gb);
      conv_kernels<cpu>::backward(host, g, x.data(), w.data(), gy.data(), sc, gx.data(), gw.data(),
                                  gb.data(), hws);
      conv_kernels<cuda>::backward(dev, g, xd.data(), wd.data(), gyd.data(), scd, gxd.data(),
                                   gwd.data(), gbd.data(), dws);
      CHECK(max_rel_diff(gxd, gx) <= eps);
      CHECK(max_rel_diff(gwd, gw) <= eps);
      CHECK(max_rel_diff(gbd, gb) <= eps);
    }
  }
  {
    INFO("raw passes one at a time");
    tensor<T> gx(g.input_shape()), gw(w.shape());
    tensor<T, cuda> gxd(g.input_shape()), gwd(w.shape());
    conv_kernels<cpu>::backward(host, g, x.data(), w.data(), gy.data(), static_cast<const T*>(nullptr),
                                gx.data(), static_cast<T*>(nullptr), static_cast<T*>(nullptr), hws);
    conv_kernels<cuda>::conv_backward_data(dev, g, wd.data(), gyd.data(), gxd.data(), dws);
    CHECK(max_rel_diff(gxd, gx) <= eps);
    conv_kernels<cpu>::backward(host, g, x.data(), w.data(), gy.data(), static_cast<const T*>(nullptr),
                                static_cast<T*>(nullptr), gw.data(), static_cast<T*>(nullptr), hws);
    conv_kernels<cuda>::conv_backward_filter(dev, g, xd.data(), gyd.data(), gwd.data(), dws);
    CHECK(max_rel_diff(gwd, gw) <= eps);
  }
}

}  // namespace

TEST_CASE("cuda: cuDNN convolution passes match conv_kernels<cpu> in double") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (const config& c : configs) {
    check_kernels<double>(c, act::swish{});
    check_kernels<double>(c, act::identity{});
  }
}

TEST_CASE("cuda: cuDNN convolution passes match conv_kernels<cpu> in float") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (const config& c : configs) {
    check_kernels<float>(c, act::swish{});
    check_kernels<float>(c, act::gelu{});
    check_kernels<float>(c, act::identity{});
  }
}

TEST_CASE("cuda: one workspace serves alternating geometries") {
  EBM_REQUIRE_CUDA_DEVICE();
  const cuda dev;
  conv_kernels<cuda>::workspace<float> dws;
  conv_kernels<cpu>::workspace<float> hws;
  philox rng(3);
  const tensor<float> w = uniform<float>(shape{4, 2, 3, 3}, rng);
  const auto wd = to_device(w);
  for (int round = 0; round < 3; ++round)
    for (index_t n : {1, 5, 2}) {
      CAPTURE(n);
      const conv_geometry g = conv_geometry::make(shape{n, 2, 6, 6}, 4, 3, 1, 1);
      const tensor<float> x = uniform<float>(g.input_shape(), rng);
      tensor<float> y(g.output_shape());
      tensor<float, cuda> yd(g.output_shape());
      conv_kernels<cpu>::forward(cpu{}, g, x.data(), w.data(), static_cast<const float*>(nullptr),
                                 act::identity{}, y.data(), static_cast<float*>(nullptr),
                                 static_cast<float*>(nullptr), hws);
      const auto xd = to_device(x);
      conv_kernels<cuda>::forward(dev, g, xd.data(), wd.data(), static_cast<const float*>(nullptr),
                                  act::identity{}, yd.data(), static_cast<float*>(nullptr),
                                  static_cast<float*>(nullptr), dws);
      CHECK(max_rel_diff(yd, y) <= 1e-4);
    }
}

TEST_CASE("cuda: TF32 convolutions stay close to FP32") {
  EBM_REQUIRE_CUDA_DEVICE();
  const cuda dev = cuda::create();
  const conv_geometry g = conv_geometry::make(shape{4, 8, 12, 12}, 8, 3, 1, 1);
  philox rng(8);
  const auto x = to_device(uniform<float>(g.input_shape(), rng), dev);
  const auto w = to_device(uniform<float>(shape{8, 8, 3, 3}, rng), dev);
  tensor<float, cuda> strict(g.output_shape(), dev), fast(g.output_shape(), dev);
  conv_kernels<cuda>::workspace<float> ws;
  conv_kernels<cuda>::conv_forward(dev, g, x.data(), w.data(), strict.data(), ws);
  dev.set_tf32(true);
  conv_kernels<cuda>::conv_forward(dev, g, x.data(), w.data(), fast.data(), ws);
  dev.set_tf32(false);
  CHECK(max_rel_diff(to_host(fast), to_host(strict)) <= 5e-2);
}

TEST_CASE("cuda: conv2d on the device matches the host layer in all four passes") {
  EBM_REQUIRE_CUDA_DEVICE();
  {
    nn::sequential host{nn::conv2d<double, cpu, act::swish>(2, 4, 3, 1, 1),
                        nn::conv2d<double, cpu, act::gelu>(4, 3, 4, 2, 1),
                        nn::linear<double>(3 * 4 * 4, 1)};
    nn::sequential dev{nn::conv2d<double, cuda, act::swish>(2, 4, 3, 1, 1),
                       nn::conv2d<double, cuda, act::gelu>(4, 3, 4, 2, 1),
                       nn::linear<double, cuda>(3 * 4 * 4, 1)};
    check_network<double>(host, dev, shape{3, 2, 8, 8}, 1e-10, 77);
  }
  {
    nn::sequential host{nn::conv2d<float>(3, 5, 3, 1, 1, false),
                        nn::conv2d<float, cpu, act::softplus>(5, 2, 1)};
    nn::sequential dev{nn::conv2d<float, cuda>(3, 5, 3, 1, 1, false),
                       nn::conv2d<float, cuda, act::softplus>(5, 2, 1)};
    check_network<float>(host, dev, shape{2, 3, 7, 5}, 1e-4, 77);
  }
}
