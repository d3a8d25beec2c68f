#pragma once
// pca_gaussian: a simple generative baseline, one Gaussian per class in the
// space of the top-k principal components of the training images.
//
// Fitting: the pixel mean m and the top-k eigenvectors B [D, k] of the pixel
// covariance of all training images (PCA); each image x of class c is
// projected to z = Bᵀ(x − m), and each class gets the mean μ_c and
// (1/(n_c − 1)) covariance Σ_c of its projections and the prior n_c / N.
// Sampling: draw a class from the prior, z ~ N(μ_c, Σ_c), x = m + B z, clamp
// to [−1, 1].  With k = 50 on Fashion-MNIST the samples have the right class
// shapes but are blurry and carry speckle noise: a generative model should
// beat this baseline clearly on every score of eval/image_score.hpp.
//
// The pixel covariance is accumulated in double over tiles of rows, one fixed
// slice of the data per thread and the slices summed in order, so the fit is
// deterministic for a given thread count.
//
//   eval::pca_gaussian<float> g(train.images().view(), train.labels(), 50);
//   philox rng(1);
//   tensor<float> x = g.sample(10000, rng);   // [10000, C, H, W]
#include <Eigen/Core>
#include <Eigen/Eigenvalues>
#include <algorithm>
#include <span>
#include <vector>

#include "../core/philox.hpp"
#include "../core/tensor.hpp"
#include "../device/cpu/device.hpp"
#include "detail/psd.hpp"

namespace ebm::eval {

template <class T = float>
class pca_gaussian {
 public:
  /// Fits to images [N, C, H, W] (any [N, ...]) with one label in 0..C−1 per
  /// image; needs 1 ≤ components ≤ the number of pixels.
  pca_gaussian(tensor_view<const T> images, std::span<const int> labels, index_t components = 50,
               const cpu& dev = cpu{})
      : image_shape_(images.shape()), k_(components) {
    const index_t n = images.shape().rank() >= 1 ? images.extent(0) : 0;
    const index_t d = images.shape().sample_size();
    EBM_REQUIRE(images.shape().rank() >= 2 && n >= 2, "pca_gaussian: expected at least 2 images [N, ...], got ",
                images.shape());
    EBM_REQUIRE(index_t(labels.size()) == n, "pca_gaussian: ", labels.size(), " labels for ", n, " images");
    EBM_REQUIRE(k_ >= 1 && k_ <= d, "pca_gaussian: ", k_, " components requested for images of ", d, " pixels");
    int classes = 0;
    for (int l : labels) {
      EBM_REQUIRE(l >= 0, "pca_gaussian: negative label ", l);
      classes = std::max(classes, l + 1);
    }
    const map x(images.data(), n, d);
    fit_pca(x, dev);
    fit_classes(x, labels, classes, dev);
  }

  index_t components() const { return k_; }
  int num_classes() const { return static_cast<int>(classes_.size()); }
  /// The pixel mean [D].
  const Eigen::VectorXd& pixel_mean() const { return mean_; }
  /// The principal directions [D, k] (orthonormal columns, largest variance first).
  const Eigen::MatrixXd& basis() const { return basis_; }
  /// Fraction of the total pixel variance the k components explain.
  double explained_variance() const { return explained_; }
  /// Prior, mean [k] and covariance [k, k] of class c in component space.
  double prior(int c) const { return classes_.at(static_cast<std::size_t>(c)).prior; }
  const Eigen::VectorXd& class_mean(int c) const { return classes_.at(static_cast<std::size_t>(c)).mean; }
  const Eigen::MatrixXd& class_cov(int c) const { return classes_.at(static_cast<std::size_t>(c)).cov; }

  /// n samples shaped like the training images, clamped to [−1, 1]; their
  /// classes go to *labels when given.
  tensor<T> sample(index_t n, philox& rng, std::vector<int>* labels = nullptr) const {
    EBM_REQUIRE(n >= 0, "pca_gaussian::sample: negative count ", n);
    tensor<T> out;
    out.resize(image_shape_.with(0, n));
    if (labels) labels->assign(static_cast<std::size_t>(n), 0);
    const index_t d = mean_.size();
    Eigen::VectorXd eps(k_), x(d);
    for (index_t i = 0; i < n; ++i) {
      const int c = draw_class(rng.uniform());
      const auto& m = classes_[static_cast<std::size_t>(c)];
      rng.fill_normal<double>(std::span<double>(eps.data(), static_cast<std::size_t>(k_)));
      x.noalias() = mean_ + basis_ * (m.mean + m.factor * eps);
      T* dst = out.data() + i * d;
      for (index_t j = 0; j < d; ++j) dst[j] = static_cast<T>(std::clamp(x[j], -1.0, 1.0));
      if (labels) (*labels)[static_cast<std::size_t>(i)] = c;
    }
    return out;
  }

 private:
  using row_major = Eigen::Matrix<T, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  using map = Eigen::Map<const row_major>;
  using row_major_d = Eigen::Matrix<double, Eigen::Dynamic, Eigen::Dynamic, Eigen::RowMajor>;
  static constexpr index_t tile = 1024;

  struct class_model {
    double prior = 0;
    Eigen::VectorXd mean;
    Eigen::MatrixXd cov;
    Eigen::MatrixXd factor;  // factor factorᵀ = cov
  };

  /// Rows [begin, end) of x minus the mean, in double.
  row_major_d centred(const map& x, index_t begin, index_t end) const {
    return x.middleRows(begin, end - begin).template cast<double>().rowwise() - mean_.transpose();
  }

  void fit_pca(const map& x, const cpu& dev) {
    const index_t n = x.rows(), d = x.cols();
    mean_ = x.template cast<double>().colwise().sum().transpose() / double(n);
    // One slice of rows per part, parts summed in order: deterministic.
    const index_t parts = std::max<index_t>(1, std::min<index_t>(dev.threads(), n / tile));
    std::vector<Eigen::MatrixXd> partial(static_cast<std::size_t>(parts));
    auto work = [&](index_t pb, index_t pe) {
      for (index_t p = pb; p < pe; ++p) {
        Eigen::MatrixXd& g = partial[static_cast<std::size_t>(p)];
        g = Eigen::MatrixXd::Zero(d, d);
        for (index_t r = n * p / parts, end = n * (p + 1) / parts; r < end; r += tile) {
          const row_major_d xc = centred(x, r, std::min(r + tile, end));
          g.selfadjointView<Eigen::Lower>().rankUpdate(xc.transpose());
        }
      }
    };
    dev.parallel_for(parts, 1, [f = &work](index_t b, index_t e) { (*f)(b, e); });
    Eigen::MatrixXd cov = partial[0];
    for (std::size_t p = 1; p < partial.size(); ++p) cov += partial[p];
    cov /= double(n - 1);
    // The solver reads only the lower triangle, which rankUpdate filled.
    const auto es = detail::eigen_symmetric(cov, "pca_gaussian (pixel covariance)");
    // Eigenvalues ascend: the last k columns, reversed, are the top k.
    basis_ = es.eigenvectors().rightCols(k_).rowwise().reverse();
    const double total = detail::sum_clamped(es.eigenvalues());
    explained_ = total > 0 ? detail::sum_clamped(es.eigenvalues().tail(k_)) / total : 0.0;
  }

  void fit_classes(const map& x, std::span<const int> labels, int classes, const cpu& dev) {
    const index_t n = x.rows();
    row_major_d z(n, k_);  // projections, one row per image
    auto project = [&](index_t b, index_t e) {
      for (index_t r = b; r < e; r += tile) {
        const index_t m = std::min(tile, e - r);
        z.middleRows(r, m).noalias() = centred(x, r, r + m) * basis_;
      }
    };
    dev.parallel_for(n, tile, [f = &project](index_t b, index_t e) { (*f)(b, e); });
    classes_.assign(static_cast<std::size_t>(classes), class_model{});
    std::vector<index_t> count(static_cast<std::size_t>(classes), 0);
    for (auto& c : classes_) {
      c.mean = Eigen::VectorXd::Zero(k_);
      c.cov = Eigen::MatrixXd::Zero(k_, k_);
    }
    for (index_t i = 0; i < n; ++i) {
      const auto c = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      classes_[c].mean += z.row(i).transpose();
      ++count[c];
    }
    for (std::size_t c = 0; c < classes_.size(); ++c)
      if (count[c]) classes_[c].mean /= double(count[c]);
    for (index_t i = 0; i < n; ++i) {
      const auto c = static_cast<std::size_t>(labels[static_cast<std::size_t>(i)]);
      const Eigen::VectorXd v = z.row(i).transpose() - classes_[c].mean;
      classes_[c].cov.template selfadjointView<Eigen::Lower>().rankUpdate(v);
    }
    for (std::size_t c = 0; c < classes_.size(); ++c) {
      class_model& m = classes_[c];
      m.prior = double(count[c]) / double(n);
      // A class seen once (or never) has no spread: its samples are its mean.
      if (count[c] > 1) m.cov /= double(count[c] - 1);
      m.cov.template triangularView<Eigen::StrictlyUpper>() = m.cov.transpose();
      m.factor = detail::psd_factor(m.cov, "pca_gaussian (class covariance)");
    }
  }

  int draw_class(double u) const {
    double acc = 0;
    for (std::size_t c = 0; c < classes_.size(); ++c) {
      acc += classes_[c].prior;
      if (u < acc) return static_cast<int>(c);
    }
    // u within rounding of 1: the last class with any images.
    for (std::size_t c = classes_.size(); c-- > 0;)
      if (classes_[c].prior > 0) return static_cast<int>(c);
    return 0;
  }

  shape image_shape_;
  index_t k_;
  Eigen::VectorXd mean_;
  Eigen::MatrixXd basis_;
  double explained_ = 0;
  std::vector<class_model> classes_;
};

}  // namespace ebm::eval
