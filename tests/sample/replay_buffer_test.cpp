#include <doctest/doctest.h>

#include <cmath>

#include <ebm/energy/gaussian.hpp>
#include <ebm/sample/replay_buffer.hpp>
#include <ebm/sample/short_run.hpp>

using namespace ebm;

TEST_CASE("replay buffer: the re-initialised fraction is binomial(n, p)") {
  // After the buffer is overwritten with a sentinel value (5, outside the fresh noise's
  // range [-1, 1)), a row of a new batch is fresh exactly when it was re-initialised.
  // Over 20 batches of 1000 chains the count is Binomial(20000, p): standard deviation
  // sqrt(20000 p (1 - p)) = 30.8 for p = 0.05, 56.6 for p = 0.2.  Tolerance 5 of them.
  for (double p : {0.05, 0.2}) {
    INFO("reinit probability " << p);
    replay_buffer buffer(5000, init::uniform_noise<double>(shape{2, 3}), p);
    philox rng(42);
    tensor<double> x;
    index_t fresh = 0, flagged = 0;
    for (int b = 0; b < 20; ++b) {
      buffer.initialize(x, 1000, rng);
      if (b == 0) buffer.data().fill(5.0);  // every later draw from the buffer reads 5
      else
        for (index_t i = 0; i < 1000; ++i) {
          const bool is_fresh = x[i * 6] != 5.0;  // x is [1000, 2, 3]: row i starts at 6 i
          fresh += is_fresh;
          flagged += buffer.last_reinit()[static_cast<std::size_t>(i)];
          CHECK(is_fresh == buffer.last_reinit()[static_cast<std::size_t>(i)]);
        }
      x.fill(5.0);
      buffer.finish(x);
    }
    const double n = 19 * 1000;
    CHECK(std::abs(double(fresh) - n * p) < 5 * std::sqrt(n * p * (1 - p)));
    CHECK(fresh == flagged);
  }
}

TEST_CASE("replay buffer: slots are drawn uniformly and written back") {
  replay_buffer buffer(10, init::uniform_noise<double>(shape{1}), 0.0);
  philox rng(1);
  tensor<double> x;
  // Uniform slots: 10 slots x 20000 draws; each count is Binomial(20000, 0.1), sd 42.4.
  std::vector<int> counts(10, 0);
  for (int b = 0; b < 200; ++b) {
    buffer.initialize(x, 100, rng);
    for (index_t s : buffer.last_slots()) ++counts[static_cast<std::size_t>(s)];
  }
  for (int c : counts) CHECK(std::abs(c - 2000) < 5 * 42.4);
  // Write-back: each chain's end point lands in its slot.
  buffer.initialize(x, 3, rng);
  for (index_t i = 0; i < 3; ++i) x[i] = 100.0 + double(i);
  buffer.finish(x);
  for (index_t i = 0; i < 3; ++i) {
    const index_t slot = buffer.last_slots()[static_cast<std::size_t>(i)];
    // A slot drawn twice keeps the later chain.
    index_t last = i;
    for (index_t j = i + 1; j < 3; ++j)
      if (buffer.last_slots()[static_cast<std::size_t>(j)] == slot) last = j;
    CHECK(buffer.data()[slot] == 100.0 + double(last));
  }
  tensor<double> wrong(shape{4, 1});
  CHECK_THROWS_WITH_AS(buffer.finish(wrong), doctest::Contains("expected the 3 chains"), ebm::error);
}

TEST_CASE("replay buffer inside short_run: persistent chains converge across calls") {
  // Persistent chains with 10 Langevin steps per call: after enough calls the buffer holds
  // (nearly) target samples although each call is short.  Target N(3, 0.25) in 1-D; the
  // ULA with s = 0.05 has stationary variance 0.25 / (1 - 0.05) = 0.263.  Buffer of 500,
  // 60 calls of 500 chains = 600 steps per slot on average (Poisson, min well above 100).
  // With p = 0 nothing is re-initialised, so the buffer's mean must be within 0.05 of 3
  // (SE of the mean 0.023, plus the slots drawn rarely, which are close anyway).
  gaussian<double> target(Eigen::VectorXd::Constant(1, 3.0), Eigen::MatrixXd::Constant(1, 1, 0.25));
  short_run sampler{replay_buffer(500, init::uniform_noise<double>(shape{1}), 0.0), unadjusted_langevin(0.05), 10};
  philox rng(9);
  tensor<double> x;
  for (int call = 0; call < 60; ++call) sampler.sample(target, x, 500, rng);
  double mean = 0;
  for (double v : sampler.initializer().data()) mean += v / 500;
  CHECK(std::abs(mean - 3.0) < 0.05);
  CHECK(sampler.stats().grad_evals == 10);
}
