#include <doctest/doctest.h>

#include <cmath>
#include <ebm/core/philox.hpp>
#include <vector>

TEST_CASE("philox4x32-10 matches the Random123 known-answer vectors") {
  // Known-answer tests from Random123 (kat_vectors): philox4x32_10.
  auto b = ebm::detail::philox4x32_10(0, 0, 0);
  CHECK(b.v[0] == 0x6627e8d5u);
  CHECK(b.v[1] == 0xe169c58du);
  CHECK(b.v[2] == 0xbc57ac4cu);
  CHECK(b.v[3] == 0x9b00dbd8u);
  // counter = {ffffffff x4}, key = {ffffffff x2}
  b = ebm::detail::philox4x32_10(~0ull, ~0ull, ~0ull);
  CHECK(b.v[0] == 0x408f276du);
  CHECK(b.v[1] == 0x41c83b0eu);
  CHECK(b.v[2] == 0xa20bc7c6u);
  CHECK(b.v[3] == 0x6d5451fdu);
  // counter = {243f6a88, 85a308d3, 13198a2e, 03707344}, key = {a4093822, 299f31d0}
  b = ebm::detail::philox4x32_10(0x299f31d0a4093822ull, 0x85a308d3243f6a88ull, 0x0370734413198a2eull);
  CHECK(b.v[0] == 0xd16cfe09u);
  CHECK(b.v[1] == 0x94fdccebu);
  CHECK(b.v[2] == 0x5001e420u);
  CHECK(b.v[3] == 0x24126ea1u);
}

TEST_CASE("philox: reproducible from seed and stream; streams differ") {
  ebm::philox a(42, 0), b(42, 0), c(42, 1);
  std::vector<float> xa(1000), xb(1000), xc(1000);
  a.fill_normal<float>(xa);
  b.fill_normal<float>(xb);
  c.fill_normal<float>(xc);
  CHECK(xa == xb);
  CHECK(xa != xc);
  CHECK(a.offset() == 250);
}

TEST_CASE("philox: bulk fills equal element-by-element block mapping (parallel-safe)") {
  ebm::philox g(7, 3);
  std::vector<float> all(10);
  g.fill_uniform<float>(all, -1.0f, 1.0f);
  // The second half of a fill equals a fill started at the matching offset.
  ebm::philox h(7, 3);
  h.set_offset(1);  // elements 4..7 live in block 1
  std::vector<float> part(4);
  h.fill_uniform<float>(part, -1.0f, 1.0f);
  for (int i = 0; i < 4; ++i) CHECK(part[i] == all[4 + i]);
}

TEST_CASE("philox: moments of uniform and normal draws") {
  for (int dbl = 0; dbl < 2; ++dbl) {
    ebm::philox g(2024, dbl);
    const int n = 200000;
    double m1 = 0, m2 = 0, u1 = 0, umin = 1, umax = -1;
    if (dbl) {
      std::vector<double> z(n), u(n);
      g.fill_normal<double>(z);
      g.fill_uniform<double>(u, -1.0, 1.0);
      for (int i = 0; i < n; ++i) m1 += z[i], m2 += z[i] * z[i], u1 += u[i], umin = std::min(umin, u[i]), umax = std::max(umax, u[i]);
    } else {
      std::vector<float> z(n), u(n);
      g.fill_normal<float>(z);
      g.fill_uniform<float>(u, -1.0f, 1.0f);
      for (int i = 0; i < n; ++i) m1 += z[i], m2 += z[i] * z[i], u1 += u[i], umin = std::min<double>(umin, u[i]), umax = std::max<double>(umax, u[i]);
    }
    m1 /= n, m2 /= n, u1 /= n;
    // Standard errors: mean 1/sqrt(n) = 0.0022, variance sqrt(2/n) = 0.0032;
    // bounds at about 5 standard errors.
    CHECK(std::abs(m1) < 0.011);
    CHECK(std::abs(m2 - 1) < 0.016);
    CHECK(std::abs(u1) < 0.007);
    CHECK(umin >= -1.0);
    CHECK(umax < 1.0);
  }
  ebm::philox g(5);
  double s = 0;
  for (int i = 0; i < 20000; ++i) {
    const auto k = g.uniform_int(10);
    CHECK(k < 10);
    s += double(k);
  }
  CHECK(std::abs(s / 20000 - 4.5) < 0.1);
}

TEST_CASE("philox: fill_normal in pieces (fill_normal_at) equals one fill, bit for bit, in float and double") {
  auto check = [](auto zero) {
    using T = decltype(zero);
    ebm::philox g(5, 2);
    g.set_offset(3);
    const ebm::philox start = g;
    std::vector<T> all(23);
    g.fill_normal<T>(all, T(0.5), T(2));
    CHECK(g.offset() == 3 + ebm::philox::normal_blocks<T>(23));
    // Pieces that start and end inside blocks, in any order.
    for (auto [first, len] : {std::pair<int, int>{0, 23}, {0, 1}, {1, 6}, {7, 9}, {13, 10}, {22, 1}}) {
      std::vector<T> part(static_cast<std::size_t>(len));
      start.fill_normal_at<T>(part, static_cast<std::uint64_t>(first), T(0.5), T(2));
      for (int i = 0; i < len; ++i) CHECK(part[std::size_t(i)] == all[std::size_t(first + i)]);
    }
    CHECK(start.offset() == 3);  // fill_normal_at does not advance
  };
  check(0.0f);
  check(0.0);
}
