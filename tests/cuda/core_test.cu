// The CUDA backend's foundations: error checks, the device policy, device
// tensors and transfers, and Philox fills that reproduce the host's numbers.
#include <doctest/doctest.h>

#include <ebm/nn/linear.hpp>
#include <string>
#include <vector>

#include "common.hpp"

using namespace ebm;
using namespace ebm::cuda_test;

namespace {
bool contains(const std::string& s, const std::string& part) {
  return s.find(part) != std::string::npos;
}
cudaError_t failing_cuda_call() { return cudaErrorInvalidValue; }
cublasStatus_t failing_cublas_call() { return CUBLAS_STATUS_INVALID_VALUE; }
cudnnStatus_t failing_cudnn_call() { return CUDNN_STATUS_BAD_PARAM; }
}  // namespace

// These run without a GPU: status strings are host-side look-ups.
TEST_CASE("cuda: status codes become ebm::error naming the call, file and line") {
  std::string what;
  int line = 0;
  try {
    line = __LINE__ + 1;
    EBM_CUDA_CHECK(failing_cuda_call());
  } catch (const ebm::error& e) {
    what = e.what();
  }
  CHECK(contains(what, "cudaErrorInvalidValue"));
  CHECK(contains(what, "failing_cuda_call()"));
  CHECK(contains(what, "core_test.cu:" + std::to_string(line)));

  what.clear();
  try {
    EBM_CUBLAS_CHECK(failing_cublas_call());
  } catch (const ebm::error& e) {
    what = e.what();
  }
  CHECK(contains(what, "CUBLAS_STATUS_INVALID_VALUE"));
  CHECK(contains(what, "failing_cublas_call()"));

  what.clear();
  try {
    EBM_CUDNN_CHECK(failing_cudnn_call());
  } catch (const ebm::error& e) {
    what = e.what();
  }
  CHECK(contains(what, "cuDNN error"));
  CHECK(contains(what, "failing_cudnn_call()"));
  CHECK(contains(what, "core_test.cu"));

  CHECK_NOTHROW(EBM_CUDA_CHECK(cudaSuccess));
}

TEST_CASE("cuda: device_count reports 0 instead of throwing without a GPU") {
  int n = -1;
  CHECK_NOTHROW(n = cuda::device_count());
  CHECK(n >= 0);
}

TEST_CASE("cuda: the device policy shares one context per thread scope") {
  EBM_REQUIRE_CUDA_DEVICE();
  cuda a, b;
  CHECK(a == b);  // the default context of the current GPU
  CHECK(a.stream() != nullptr);
  CHECK(a.cublas() != nullptr);
  CHECK(a.cudnn() != nullptr);
  CHECK_FALSE(a.tf32());
  const cuda own = cuda::create();
  CHECK_FALSE(own == a);
  CHECK(own.stream() != a.stream());
  {
    cuda_scope use(own);
    CHECK(cuda{} == own);
    tensor<float, cuda> t(shape{3});  // binds to the scoped policy
    CHECK(t.device() == own);
  }
  CHECK(cuda{} == a);
  CHECK_NOTHROW(own.synchronize());
}

TEST_CASE("cuda: device tensors resize, reshape, copy, move and transfer") {
  EBM_REQUIRE_CUDA_DEVICE();
  philox rng(11);
  const tensor<float> h = uniform<float>(shape{3, 5}, rng);

  tensor<float, cuda> d = to_device(h);
  CHECK(d.shape() == h.shape());
  CHECK(d.size() == 15);
  CHECK(d.rank() == 2);
  CHECK(bit_mismatches(to_host(d), h) == 0);

  // resize keeps the allocation when it is large enough
  const float* p = d.data();
  d.resize(shape{2, 4});
  CHECK(d.data() == p);
  CHECK(d.capacity() == 15);
  d.resize(shape{4, 5});
  CHECK(d.capacity() == 20);

  // reshape keeps the elements
  tensor<float, cuda> r = to_device(h);
  r.reshape(shape{15});
  CHECK(r.shape() == shape{15});
  tensor<float> back = to_host(r);
  back.reshape(h.shape());
  CHECK(bit_mismatches(back, h) == 0);
  CHECK_THROWS_AS(r.reshape(shape{4, 4}), ebm::error);

  // deep copies, cheap moves
  tensor<float, cuda> c(r);
  CHECK(c.data() != r.data());
  tensor<float> hc = to_host(c);
  hc.reshape(h.shape());
  CHECK(bit_mismatches(hc, h) == 0);
  tensor<float, cuda> m(std::move(c));
  CHECK(c.data() == nullptr);
  CHECK(c.size() == 0);
  CHECK(m.size() == 15);
  tensor<float, cuda> a;
  a = m;
  CHECK(max_rel_diff(to_host(a), to_host(m)) == 0);

  // zero, fill and the value constructor
  tensor<double, cuda> z(shape{7});
  for (double v : to_host(z)) CHECK(v == 0.0);
  z.fill(2.5);
  for (double v : to_host(z)) CHECK(v == 2.5);
  tensor<int, cuda> k(shape{2, 3}, 7);
  for (int v : to_host(k)) CHECK(v == 7);

  // copies into existing tensors
  tensor<float, cuda> e;
  copy(h, e);
  tensor<float> he;
  copy(e, he);
  CHECK(bit_mismatches(he, h) == 0);

  // empty tensors
  tensor<float, cuda> empty;
  CHECK(empty.empty());
  CHECK(to_host(empty).size() == 0);
}

TEST_CASE("cuda: Philox uniform fills are bit-identical to the host's") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (index_t n : {1, 3, 4, 5, 8, 1000, 4099}) {
    for (std::uint64_t skip : {0, 7}) {
      CAPTURE(n);
      CAPTURE(skip);
      philox host(42, 3), dev(42, 3);
      host.advance(skip);
      dev.advance(skip);
      {
        tensor<float> ref;
        ref.resize(shape{n});
        host.fill_uniform<float>(ref.span(), -1.0f, 1.0f);
        tensor<float, cuda> d(shape{n});
        fill_uniform(d, dev, -1.0f, 1.0f);
        CHECK(bit_mismatches(to_host(d), ref) == 0);
        CHECK(dev.offset() == host.offset());
      }
      {  // a width that is not a power of two: the product rounds
        tensor<float> ref;
        ref.resize(shape{n});
        host.fill_uniform<float>(ref.span(), 0.3f, 1.7f);
        tensor<float, cuda> d(shape{n});
        fill_uniform(d, dev, 0.3f, 1.7f);
        CHECK(bit_mismatches(to_host(d), ref) == 0);
      }
      {
        tensor<double> ref;
        ref.resize(shape{n});
        host.fill_uniform<double>(ref.span(), -0.7, 2.9);
        tensor<double, cuda> d(shape{n});
        fill_uniform(d, dev, -0.7, 2.9);
        CHECK(bit_mismatches(to_host(d), ref) == 0);
        CHECK(dev.offset() == host.offset());
      }
    }
  }
}

TEST_CASE("cuda: Philox normal fills match the host's within 1e-6") {
  EBM_REQUIRE_CUDA_DEVICE();
  for (index_t n : {1, 2, 3, 5, 4096, 100003}) {
    CAPTURE(n);
    philox host(7, 1), dev(7, 1);
    host.advance(5);
    dev.advance(5);
    tensor<float> ref;
    ref.resize(shape{n});
    host.fill_normal<float>(ref.span());
    tensor<float, cuda> d(shape{n});
    fill_normal(d, dev);
    CHECK(dev.offset() == host.offset());
    const tensor<float> got = to_host(d);
    double worst = 0;
    index_t exact = 0;
    for (index_t i = 0; i < n; ++i) {
      worst = std::max(worst, std::abs(double(got[i]) - double(ref[i])) /
                                  std::max(1.0, std::abs(double(ref[i]))));
      exact += got[i] == ref[i];
    }
    CHECK(worst <= 1e-6);
    MESSAGE("float normal fill of ", n, ": ", exact, " of ", n, " bit-identical, worst ", worst);

    tensor<double> refd;
    refd.resize(shape{n});
    host.fill_normal<double>(refd.span(), 0.5, 2.0);
    tensor<double, cuda> dd(shape{n});
    fill_normal(dd, dev, 0.5, 2.0);
    CHECK(dev.offset() == host.offset());
    CHECK(max_rel_diff(to_host(dd), refd) <= 1e-12);
  }
}

TEST_CASE("cuda: layers built on the device initialise exactly as on the host") {
  EBM_REQUIRE_CUDA_DEVICE();
  nn::linear<float> h(13, 7);
  nn::linear<float, cuda> d(13, 7);
  nn::initialize(h, 1234);
  nn::initialize(d, 1234);
  CHECK(bit_mismatches(to_host(d.weight()), h.weight()) == 0);
  CHECK(bit_mismatches(to_host(d.bias()), h.bias()) == 0);
}
