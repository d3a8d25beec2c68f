#pragma once
// The EGC network (Guo et al. 2023, §3.2; the authors' released code): one
// time-conditioned network whose output is a logit per class at every pixel,
//
//   f(x, t) : [N, Cimg, R, R] -> [N, K, R', R']      (K classes),
//
// read two ways:
//   energy      E(x, t) = -Σ_pixels logsumexp_k f(x, t)[k]   (nn::logsumexp_energy)
//   classifier  logits(x, t) = attention_pool(f(x, t))       (nn::attention_pool)
// so that the forward pass classifies and the input gradient of the energy is
// the (noise-scaled) score that reverse diffusion follows.
//
// Architecture (a small ADM-style UNet, Dhariwal & Nichol 2021):
//   temb = Linear(4c) ∘ SiLU ∘ Linear(4c) ∘ sinusoidal(t)  [+ label embedding]
//   s    = SiLU(temb), shared by every residual block
//   res_block(x) = x' + conv2(SiLU(GN(conv1(SiLU(GN(x))) + Linear_b(s))))
//                  (x' = x, or a 1×1 convolution when the width changes)
//   encoder: conv_in (3×3), then per level `res_blocks` blocks and a 2×2
//            average pool between levels, every output kept as a skip;
//   middle:  one block;
//   decoder: per level (coarse to fine) res_blocks + 1 blocks, each on the
//            concatenation of the running features and the newest skip, ×2
//            nearest upsampling between levels;
//   head:    GN, SiLU, 3×3 convolution to K channels.
// With config::unet = false the decoder is left out and the head runs at the
// coarsest resolution (the "plain ResNet" variant).
//
// Time and labels are not differentiable inputs: set_time(t) / set_labels(y)
// are called before forward(), and the embedding path enters the derivative
// passes only through its parameters.  Because s does not depend on x, the
// tangent of its parameter gradient along (dx, dgs) is the plain parameter
// gradient of dgs, which is how backward_tangent() treats it.
//
// The network is a differentiable block (nn/layer.hpp) from x to f; egc::model
// (energy/egc_model.hpp) adds the two heads.  It runs on any device whose
// layers have kernels (ebm::cuda: include ebm/device/cuda/cuda.cuh); the
// per-channel embedding sums go through spatial_kernels<D> there.
#include <memory>
#include <span>
#include <string>
#include <type_traits>
#include <vector>

#include "../device/cpu/elementwise.hpp"
#include "../nn/concat.hpp"
#include "../nn/conv2d.hpp"
#include "../nn/elementwise.hpp"
#include "../nn/embedding.hpp"
#include "../nn/group_norm.hpp"
#include "../nn/linear.hpp"
#include "../nn/pool.hpp"
#include "../nn/sequential.hpp"
#include "../nn/upsample.hpp"

namespace ebm::egc {

struct config {
  int image_channels = 1;             ///< channels of the images
  int resolution = 32;                ///< input height = width
  int classes = 10;                   ///< K, output channels per pixel
  int channels = 32;                  ///< base width c
  std::vector<int> multipliers{1, 2, 2};  ///< width c·m per resolution level (finest first)
  int res_blocks = 1;                 ///< residual blocks per encoder level
  int groups = 8;                     ///< group-norm groups (divides every width)
  bool unet = true;                   ///< false: encoder only ("ResNet"), logits at the coarsest level
  bool label_input = false;           ///< add a label embedding to the time embedding (null = unconditional)

  int levels() const { return static_cast<int>(multipliers.size()); }
  int width(int level) const { return channels * multipliers[static_cast<std::size_t>(level)]; }
  int embedding_width() const { return 4 * channels; }
  /// Spatial size of the per-pixel logits.
  int output_resolution() const { return unet ? resolution : resolution >> (levels() - 1); }

  void validate() const {
    EBM_REQUIRE(image_channels >= 1, "egc::config: image_channels must be >= 1, got ", image_channels);
    EBM_REQUIRE(classes >= 1, "egc::config: classes must be >= 1, got ", classes);
    EBM_REQUIRE(channels >= 1 && res_blocks >= 1 && levels() >= 1,
                "egc::config: need channels >= 1, res_blocks >= 1 and at least one level, got channels = ",
                channels, ", res_blocks = ", res_blocks, ", levels = ", levels());
    EBM_REQUIRE(channels % 2 == 0, "egc::config: channels must be even (sinusoidal embedding), got ", channels);
    EBM_REQUIRE(resolution % (1 << (levels() - 1)) == 0, "egc::config: resolution ", resolution,
                " is not divisible by 2^", levels() - 1, " (", levels(), " levels)");
    for (int l = 0; l < levels(); ++l)
      EBM_REQUIRE(multipliers[static_cast<std::size_t>(l)] >= 1 && width(l) % groups == 0,
                  "egc::config: width ", width(l), " of level ", l, " is not a positive multiple of groups = ",
                  groups);
  }
};

/// The time-conditioned residual block.
template <class T = float, class D = cpu>
class res_block {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  res_block(index_t cin, index_t cout, index_t emb, index_t groups, D dev = {})
      : gn1_(cin, groups, T(1e-5), dev), act1_(act::swish{}, dev), conv1_(cin, cout, 3, 1, 1, true, dev),
        proj_(emb, cout, true, dev), gn2_(cout, groups, T(1e-5), dev), act2_(act::swish{}, dev),
        conv2_(cout, cout, 3, 1, 1, true, dev), cout_(cout), dev_(dev) {
    if (cin != cout) skip_ = std::make_unique<nn::conv2d<T, D>>(cin, cout, 1, 1, 0, true, dev);
  }

  /// y = block(x) with the embedding s [N, E] (SiLU already applied).
  const tensor_type& forward(const tensor_type& x, const tensor_type& s) {
    const tensor_type& h = conv1_.forward(act1_.forward(gn1_.forward(x)));
    const tensor_type& e = proj_.forward(s);
    h1_.resize(h.shape());
    add_channel_bias(h, e, h1_);
    const tensor_type& h2 = conv2_.forward(act2_.forward(gn2_.forward(h1_)));
    return sum(h2, skip_ ? skip_->forward(x) : x, y_);
  }
  /// gx (always) and, with grad::params, the parameter gradients; the
  /// gradient of the embedding s is added to `gs` when params are asked for.
  const tensor_type& backward(const tensor_type& gy, grad g, tensor_type& gs) {
    const grad in = g | grad::input;
    const tensor_type& gh1 = gn2_.backward(act2_.backward(conv2_.backward(gy, in)), in);
    if (wants_params(g)) embedding_backward(gh1, gs);
    const tensor_type& ga = gn1_.backward(act1_.backward(conv1_.backward(gh1, in)), in);
    return sum(ga, skip_ ? skip_->backward(gy, in) : gy, gx_);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    // The embedding does not depend on x: the tangent of h1 is that of conv1.
    const tensor_type& dh1 = conv1_.forward_tangent(act1_.forward_tangent(gn1_.forward_tangent(dx)));
    const tensor_type& dh2 = conv2_.forward_tangent(act2_.forward_tangent(gn2_.forward_tangent(dh1)));
    return sum(dh2, skip_ ? skip_->forward_tangent(dx) : dx, dy_);
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g, tensor_type& dgs) {
    const grad in = g | grad::input;
    const tensor_type& dgh1 =
        gn2_.backward_tangent(act2_.backward_tangent(conv2_.backward_tangent(dgy, in)), in);
    if (wants_params(g)) embedding_backward(dgh1, dgs);
    const tensor_type& dga =
        gn1_.backward_tangent(act1_.backward_tangent(conv1_.backward_tangent(dgh1, in)), in);
    return sum(dga, skip_ ? skip_->backward_tangent(dgy, in) : dgy, dgx_);
  }

  template <class F>
  void visit_params(F&& f) {
    gn1_.visit_params(ebm::detail::prefixed("norm1", f));
    conv1_.visit_params(ebm::detail::prefixed("conv1", f));
    proj_.visit_params(ebm::detail::prefixed("emb", f));
    gn2_.visit_params(ebm::detail::prefixed("norm2", f));
    conv2_.visit_params(ebm::detail::prefixed("conv2", f));
    if (skip_) skip_->visit_params(ebm::detail::prefixed("skip", f));
  }
  void init(philox& rng) {
    nn::initialize(gn1_, rng);
    nn::initialize(conv1_, rng);
    nn::initialize(proj_, rng);
    nn::initialize(gn2_, rng);
    nn::initialize(conv2_, rng);
    if (skip_) nn::initialize(*skip_, rng);
  }

 private:
  // The gradient of h1 = h + e[n, c] with respect to e is Σ over pixels;
  // e = proj(s) is linear in proj's parameters and s is constant along every
  // tangent, so the same first-order backward serves both passes.
  void embedding_backward(const tensor_type& gh1, tensor_type& gs) {
    const index_t n = gh1.extent(0), hw = gh1.size() / (n * cout_);
    ge_.resize(shape{n, cout_});
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < n * cout_; ++i) {
        T acc = 0;
        const T* p = gh1.data() + i * hw;
        for (index_t k = 0; k < hw; ++k) acc += p[k];
        ge_[i] = acc;
      }
    } else {
      spatial_kernels<D>::template plane_sums<T>(dev_, gh1.data(), ge_.data(), n * cout_, hw);
    }
    const tensor_type& g = proj_.backward(ge_, grad::both);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < gs.size(); ++i) gs[i] += g[i];
    } else {
      elementwise<D>::axpy(dev_, T(1), g.data(), gs.data(), gs.size());
    }
  }
  void add_channel_bias(const tensor_type& h, const tensor_type& e, tensor_type& out) const {
    const index_t n = h.extent(0), hw = h.size() / (n * cout_);
    if constexpr (std::is_same_v<D, cpu>) {
      for (index_t i = 0; i < n * cout_; ++i) {
        const T b = e[i];
        const T* src = h.data() + i * hw;
        T* dst = out.data() + i * hw;
        for (index_t k = 0; k < hw; ++k) dst[k] = src[k] + b;
      }
    } else {
      spatial_kernels<D>::template add_plane_bias<T>(dev_, h.data(), e.data(), out.data(),
                                                     n * cout_, hw);
    }
  }
  const tensor_type& sum(const tensor_type& a, const tensor_type& b, tensor_type& out) const {
    require_same_shape(a.shape(), b.shape(), "egc::res_block (residual sum)");
    out.resize(a.shape());
    elementwise<D>::axpby(dev_, T(1), a.data(), T(1), b.data(), out.data(), a.size());
    return out;
  }

  nn::group_norm<T, D> gn1_;
  nn::swish<T, D> act1_;
  nn::conv2d<T, D> conv1_;
  nn::linear<T, D> proj_;
  nn::group_norm<T, D> gn2_;
  nn::swish<T, D> act2_;
  nn::conv2d<T, D> conv2_;
  std::unique_ptr<nn::conv2d<T, D>> skip_;
  index_t cout_;
  D dev_;
  tensor_type h1_, y_, gx_, dy_, dgx_, ge_;
};

/// The per-pixel classifier network f(x, t) (see the header comment).
template <class T = float, class D = cpu>
class network {
 public:
  using value_type = T;
  using device_type = D;
  using tensor_type = tensor<T, D>;

  explicit network(config cfg, D dev = {})
      : cfg_(validated(std::move(cfg))), dev_(dev), sin_(cfg_.channels, 10000, dev),
        mlp_(nn::linear<T, D>(cfg_.channels, cfg_.embedding_width(), true, dev), nn::swish<T, D>(act::swish{}, dev),
             nn::linear<T, D>(cfg_.embedding_width(), cfg_.embedding_width(), true, dev)),
        s_act_(act::swish{}, dev),
        conv_in_(cfg_.image_channels, cfg_.width(0), 3, 1, 1, true, dev),
        out_norm_(cfg_.unet ? cfg_.width(0) : cfg_.width(cfg_.levels() - 1), cfg_.groups, T(1e-5), dev),
        out_act_(act::swish{}, dev),
        out_conv_(cfg_.unet ? cfg_.width(0) : cfg_.width(cfg_.levels() - 1), cfg_.classes, 3, 1, 1, true, dev) {
    const index_t E = cfg_.embedding_width(), G = cfg_.groups;
    if (cfg_.label_input) labels_emb_ = std::make_unique<nn::label_embedding<T, D>>(cfg_.classes, E, dev);
    // Encoder: every output is a skip; record the widths.
    std::vector<index_t> skip_width{cfg_.width(0)};
    index_t ch = cfg_.width(0);
    for (int l = 0; l < cfg_.levels(); ++l) {
      for (int r = 0; r < cfg_.res_blocks; ++r) {
        enc_.push_back({false, blocks_.size()});
        blocks_.emplace_back(ch, cfg_.width(l), E, G, dev);
        ch = cfg_.width(l);
        skip_width.push_back(ch);
      }
      if (l + 1 < cfg_.levels()) {
        enc_.push_back({true, pools_.size()});
        pools_.emplace_back(dev);
        skip_width.push_back(ch);
      }
    }
    middle_ = blocks_.size();
    blocks_.emplace_back(ch, ch, E, G, dev);
    if (cfg_.unet) {
      for (int l = cfg_.levels() - 1; l >= 0; --l) {
        for (int r = 0; r <= cfg_.res_blocks; ++r) {
          const index_t sw = skip_width.back();
          skip_width.pop_back();
          dec_.push_back({false, blocks_.size()});
          blocks_.emplace_back(ch + sw, cfg_.width(l), E, G, dev);
          ch = cfg_.width(l);
        }
        if (l > 0) {
          dec_.push_back({true, ups_.size()});
          ups_.emplace_back(nn::upsample_mode::nearest, dev);
        }
      }
    }
    const std::size_t dec_blocks = cfg_.unet ? static_cast<std::size_t>(cfg_.levels() * (cfg_.res_blocks + 1)) : 0;
    cat_.resize(dec_blocks);
    dcat_.resize(dec_blocks);
    skips_.resize(enc_.size() + 1);
    dskips_.resize(enc_.size() + 1);
    gskip_.resize(enc_.size() + 1);
    dgskip_.resize(enc_.size() + 1);
    gsplit_.resize(dec_blocks);
    dgsplit_.resize(dec_blocks);
  }

  network(const network&) = delete;
  network& operator=(const network&) = delete;
  network(network&&) = default;

  const config& cfg() const { return cfg_; }

  /// Timesteps [N] for the coming forward (kept by pointer until the passes end).
  void set_time(const tensor_type& t) { t_ = &t; }
  /// Labels for label_input networks; -1 is the null (unconditional) label.
  /// Without a call every sample gets the null label.
  void set_labels(std::span<const int> labels) {
    labels_.assign(labels.begin(), labels.end());
    has_labels_ = true;
  }
  /// Back to the null label for every sample.
  void clear_labels() { has_labels_ = false; }

  const tensor_type& forward(const tensor_type& x) {
    EBM_REQUIRE(x.rank() == 4 && x.extent(1) == cfg_.image_channels && x.extent(2) == cfg_.resolution &&
                    x.extent(3) == cfg_.resolution,
                "egc::network: expected input [N, ", cfg_.image_channels, ", ", cfg_.resolution, ", ",
                cfg_.resolution, "], got ", x.shape());
    const index_t n = x.extent(0);
    embed(n);
    const tensor_type* h = &conv_in_.forward(x);
    skips_[0] = h;
    for (std::size_t k = 0; k < enc_.size(); ++k) {
      h = enc_[k].pool ? &pools_[enc_[k].index].forward(*h) : &blocks_[enc_[k].index].forward(*h, s_);
      skips_[k + 1] = h;
    }
    h = &blocks_[middle_].forward(*h, s_);
    std::size_t next_skip = enc_.size() + 1, c = 0;
    for (auto& op : dec_) {
      if (op.pool) {
        h = &ups_[op.index].forward(*h);
      } else {
        nn::concat_channels(*h, *skips_[--next_skip], cat_[c]);
        h = &blocks_[op.index].forward(cat_[c++], s_);
      }
    }
    return out_conv_.forward(out_act_.forward(out_norm_.forward(*h)));
  }

  const tensor_type& backward(const tensor_type& gy, grad g = grad::input) {
    return reverse(gy, g, false);
  }
  const tensor_type& forward_tangent(const tensor_type& dx) {
    const tensor_type* h = &conv_in_.forward_tangent(dx);
    dskips_[0] = h;
    for (std::size_t k = 0; k < enc_.size(); ++k) {
      h = enc_[k].pool ? &pools_[enc_[k].index].forward_tangent(*h) : &blocks_[enc_[k].index].forward_tangent(*h);
      dskips_[k + 1] = h;
    }
    h = &blocks_[middle_].forward_tangent(*h);
    std::size_t next_skip = enc_.size() + 1, c = 0;
    for (auto& op : dec_) {
      if (op.pool) {
        h = &ups_[op.index].forward_tangent(*h);
      } else {
        nn::concat_channels(*h, *dskips_[--next_skip], dcat_[c]);
        h = &blocks_[op.index].forward_tangent(dcat_[c++]);
      }
    }
    return out_conv_.forward_tangent(out_act_.forward_tangent(out_norm_.forward_tangent(*h)));
  }
  const tensor_type& backward_tangent(const tensor_type& dgy, grad g = grad::input) {
    return reverse(dgy, g, true);
  }

  template <class F>
  void visit_params(F&& f) {
    mlp_.visit_params(ebm::detail::prefixed("time", f));
    if (labels_emb_) labels_emb_->visit_params(ebm::detail::prefixed("label", f));
    conv_in_.visit_params(ebm::detail::prefixed("conv_in", f));
    for (std::size_t i = 0; i < blocks_.size(); ++i)
      blocks_[i].visit_params(ebm::detail::prefixed("block" + std::to_string(i), f));
    out_norm_.visit_params(ebm::detail::prefixed("out_norm", f));
    out_conv_.visit_params(ebm::detail::prefixed("out_conv", f));
  }
  void init(philox& rng) {
    nn::initialize(mlp_, rng);
    if (labels_emb_) nn::initialize(*labels_emb_, rng);
    nn::initialize(conv_in_, rng);
    for (auto& b : blocks_) nn::initialize(b, rng);
    nn::initialize(out_norm_, rng);
    nn::initialize(out_conv_, rng);
  }

 private:
  static config validated(config c) {
    c.validate();
    return c;
  }
  struct op {
    bool pool;          // encoder: avg pool / decoder: upsample; else a res_block
    std::size_t index;  // into pools_/ups_ or blocks_
  };

  // temb = MLP(sinusoidal(t)) [+ label embedding], s = SiLU(temb).
  void embed(index_t n) {
    EBM_REQUIRE(t_ != nullptr, "egc::network: call set_time(t) before forward (timesteps [N])");
    EBM_REQUIRE(t_->rank() == 1 && t_->extent(0) == n, "egc::network: expected timesteps [", n, "], got ",
                t_->shape());
    const tensor_type* temb = &mlp_.forward(sin_.forward(*t_));
    if (labels_emb_) {
      if (!has_labels_) labels_.assign(static_cast<std::size_t>(n), nn::label_embedding<T, D>::null);
      EBM_REQUIRE(static_cast<index_t>(labels_.size()) == n, "egc::network: set_labels gave ", labels_.size(),
                  " labels for a batch of ", n);
      const tensor_type& le = labels_emb_->forward(labels_);
      temb_sum_.resize(temb->shape());
      if constexpr (std::is_same_v<D, cpu>) {
        for (index_t i = 0; i < temb_sum_.size(); ++i) temb_sum_[i] = (*temb)[i] + le[i];
      } else {
        elementwise<D>::axpby(dev_, T(1), temb->data(), T(1), le.data(), temb_sum_.data(),
                              temb_sum_.size());
      }
      temb = &temb_sum_;
    }
    s_ = s_act_.forward(*temb);
  }

  // The backward pass (tangent = false) or its tangent (tangent = true); the
  // two have the same structure, only the calls differ.
  const tensor_type& reverse(const tensor_type& gy, grad g, bool tangent) {
    const grad in = g | grad::input;
    auto bw = [&](auto& layer, const tensor_type& x, grad gg) -> const tensor_type& {
      return tangent ? layer.backward_tangent(x, gg) : layer.backward(x, gg);
    };
    auto bw_block = [&](res_block<T, D>& b, const tensor_type& x) -> const tensor_type& {
      return tangent ? b.backward_tangent(x, in, gs_) : b.backward(x, in, gs_);
    };
    if (wants_params(g)) {
      gs_.resize(s_.shape());
      gs_.zero();
    }
    // Separate buffers for the two passes: the layers keep pointers to the
    // gradients they saw in backward() until backward_tangent() has run.
    std::vector<tensor_type>& gskip = tangent ? dgskip_ : gskip_;
    std::vector<tensor_type>& gsplit = tangent ? dgsplit_ : gsplit_;
    const tensor_type* h = &bw(out_norm_, bw(out_act_, bw(out_conv_, gy, in), in), in);
    // Decoder, in reverse: a block's input gradient splits into the running
    // features and its skip.
    for (std::size_t k = 0; k < gskip.size(); ++k) gskip[k].resize(skips_[k]->shape()).zero();
    std::size_t next_skip = enc_.size() + 1 - (cat_.size()), c = cat_.size();
    for (auto it = dec_.rbegin(); it != dec_.rend(); ++it) {
      if (it->pool) {
        h = &bw(ups_[it->index], *h, in);
      } else {
        --c;
        const tensor_type& gcat = bw_block(blocks_[it->index], *h);
        const index_t ch = gcat.extent(1) - skips_[next_skip]->extent(1);
        nn::split_channels(gcat, ch, gsplit[c], gpart_);
        add_to(gskip[next_skip], gpart_);
        ++next_skip;
        h = &gsplit[c];
      }
    }
    h = &bw_block(blocks_[middle_], *h);
    for (std::size_t k = enc_.size(); k-- > 0;) {
      // The output of encoder op k is skip k + 1: its gradient is the chain's
      // plus what the decoder sent through the skip.
      add_to(gskip[k + 1], *h);
      h = enc_[k].pool ? &bw(pools_[enc_[k].index], gskip[k + 1], in) : &bw_block(blocks_[enc_[k].index], gskip[k + 1]);
    }
    add_to(gskip[0], *h);
    const tensor_type& gx = bw(conv_in_, gskip[0], g);
    if (wants_params(g)) embedding_backward();
    return gx;
  }

  // s = SiLU(temb) and temb = MLP(sin t) [+ label table] do not depend on x:
  // both passes send the accumulated gs through the same first-order backward.
  void embedding_backward() {
    const tensor_type& gt = s_act_.backward(gs_, grad::input);
    mlp_.backward(gt, grad::params);
    if (labels_emb_) labels_emb_->backward(gt, grad::params);
  }
  void add_to(tensor_type& acc, const tensor_type& v) const {
    require_same_shape(acc.shape(), v.shape(), "egc::network (skip gradient)");
    elementwise<D>::axpy(dev_, T(1), v.data(), acc.data(), acc.size());
  }

  config cfg_;
  D dev_;
  nn::sinusoidal_embedding<T, D> sin_;
  nn::sequential<nn::linear<T, D>, nn::swish<T, D>, nn::linear<T, D>> mlp_;
  std::unique_ptr<nn::label_embedding<T, D>> labels_emb_;
  nn::swish<T, D> s_act_;
  nn::conv2d<T, D> conv_in_;
  std::vector<res_block<T, D>> blocks_;
  std::vector<nn::avg_pool2d<T, D>> pools_;
  std::vector<nn::upsample2d<T, D>> ups_;
  std::vector<op> enc_, dec_;
  std::size_t middle_ = 0;
  nn::group_norm<T, D> out_norm_;
  nn::swish<T, D> out_act_;
  nn::conv2d<T, D> out_conv_;

  const tensor_type* t_ = nullptr;
  std::vector<int> labels_;
  bool has_labels_ = false;
  tensor_type temb_sum_, s_, gs_;
  std::vector<const tensor_type*> skips_, dskips_;
  std::vector<tensor_type> cat_, dcat_, gskip_, dgskip_, gsplit_, dgsplit_;
  tensor_type gpart_;
};

}  // namespace ebm::egc
