#include <doctest/doctest.h>

#include <ebm/core/tensor.hpp>
#include <string>

using ebm::shape;
using ebm::tensor;

TEST_CASE("shape: size, sample_size, equality and printing") {
  shape s{2, 3, 4, 5};
  CHECK(s.rank() == 4);
  CHECK(s.size() == 120);
  CHECK(s.sample_size() == 60);
  CHECK(s == shape{2, 3, 4, 5});
  CHECK_FALSE(s == shape{2, 3, 4});
  CHECK(s.str() == "[2, 3, 4, 5]");
  CHECK(s.with(0, 7) == shape{7, 3, 4, 5});
  CHECK_THROWS_AS(shape({1, 2, 3, 4, 5, 6, 7}), ebm::error);
  CHECK_THROWS_AS(shape({-1}), ebm::error);
}

TEST_CASE("tensor: zero-initialised, NCHW indexing, deep copies, cheap moves") {
  tensor<float> t(shape{2, 3, 4, 5});
  for (float v : t) CHECK(v == 0.0f);
  t(1, 2, 3, 4) = 7.0f;
  CHECK(t[t.size() - 1] == 7.0f);
  CHECK(reinterpret_cast<std::uintptr_t>(t.data()) % 64 == 0);

  tensor<float> c(t);
  c(1, 2, 3, 4) = 1.0f;
  CHECK(t(1, 2, 3, 4) == 7.0f);

  const float* p = t.data();
  tensor<float> m(std::move(t));
  CHECK(m.data() == p);
  CHECK(t.size() == 0);
}

TEST_CASE("tensor: resize keeps the allocation when it fits; reshape checks sizes") {
  tensor<double> t(shape{4, 4});
  const double* p = t.data();
  t.resize(shape{2, 2});
  CHECK(t.data() == p);
  CHECK(t.shape() == shape{2, 2});
  t.resize(shape{4, 4});
  CHECK(t.data() == p);
  t.reshape(shape{16});
  CHECK(t.rank() == 1);
  CHECK_THROWS_WITH_AS(t.reshape(shape{5}), doctest::Contains("cannot reshape [16] to [5]"), ebm::error);
}

TEST_CASE("tensor views: samples, reshape, bounds") {
  tensor<float> t(shape{3, 2, 2});
  for (ebm::index_t i = 0; i < t.size(); ++i) t[i] = float(i);
  auto v = t.sample(1);
  CHECK(v.shape() == shape{2, 2});
  CHECK(v[0] == 4.0f);
  auto s = t.samples(1, 2);
  CHECK(s.shape() == shape{2, 2, 2});
  CHECK(s[7] == 11.0f);
  CHECK_THROWS_AS(t.sample(3), ebm::error);
  CHECK_THROWS_AS(t.samples(2, 2), ebm::error);
  tensor<float> copy(t.sample(2));
  CHECK(copy[3] == 11.0f);
}

TEST_CASE("require_same_shape names both shapes") {
  try {
    ebm::require_same_shape(shape{1, 2}, shape{2, 1}, "my_layer");
    FAIL("no throw");
  } catch (const ebm::error& e) {
    const std::string msg = e.what();
    CHECK(msg.find("my_layer") != std::string::npos);
    CHECK(msg.find("expected [1, 2] but got [2, 1]") != std::string::npos);
  }
}
