// CF-EBM on real images: coarse-to-fine training and its applications.
//
//   ebm_cf_ebm train     [--preset demo|quick|hour|wide|paper] [--out DIR] [--resume] ...
//   ebm_cf_ebm generate  --checkpoint F [--mode fine|chain] [--n 64] [--samples-out F.idx]
//   ebm_cf_ebm denoise   --checkpoint F [--sigma 0.3] [--method posterior|refine]
//   ebm_cf_ebm inpaint   --checkpoint F [--completions 6]
//   ebm_cf_ebm ood       --checkpoint F
//   ebm_cf_ebm translate --checkpoint TARGET_MODEL --source-classes 7
//
// Run `ebm_cf_ebm help` for every option.
#include <cstdio>
#include <exception>
#include <iostream>
#include <string>

#include "common.hpp"

namespace {
const char* usage = R"(usage: ebm_cf_ebm COMMAND [options]

commands
  train      train a CF-EBM (Algorithm 1), writing checkpoints, sample grids and train_log.csv
  generate   sample a trained model: --mode chain (through every stage, default) or fine (Algorithm 2)
  denoise    posterior Langevin from noisy test images (energy + data term, coarse to fine); PSNR before and after
  inpaint    complete a masked 16x16 square (25% of the image); only masked pixels move
  ood        energies of the test set against noise, constant images, interpolations and digits; AUROC
  translate  image-to-image translation with a target-domain model, with generative saliency maps

data (train, denoise, inpaint, ood, translate)
  --data DIR          Fashion-MNIST IDX directory (default /usr/share/datasets/fashion-mnist)
  --images DIR        a folder of PNG/JPEG images instead (resized to 32x32)
  --channels N        image channels for --images (1 or 3, default 1)
  --classes LIST      Fashion-MNIST classes to use, e.g. 9 or 7,9 (default: all)

train
  --preset NAME       demo (about 7 minutes of training on 2 cores, default; hour's schedule with a quarter of
                      its images), quick (about 3 minutes), hour (about 30 minutes, c = 16, appendix A.2's
                      schedule at 80% of its images), wide (about 35 minutes, c = 32, fewer images), or paper
                      (appendix A.2 exactly: c = 32, chains from noise)
  --out DIR           output directory (default cf_ebm_out)
  --c N               channel multiplier (default from the preset)
  --images-scale X    multiply every stage's image count by X
  --lr-end X          every stage's learning rate falls linearly to X times its own after the fade-in
  --ema D             each stage ends with the moving average of its parameters (decay D, e.g. 0.99; default off)
  --seed N            random seed (default 1)
  --threads N         worker threads (default: all cores)
  --device cpu|cuda   where to train (cuda: network, chains and Adam on the GPU; needs a build with CUDA)
  --resume            continue from DIR/checkpoint.ebm

sampling commands
  --checkpoint FILE   a checkpoint written by train (required)
  --out FILE|DIR      where pictures go (default: next to the checkpoint)
  --n N               number of images
  --seed N            random seed
  generate: --mode chain|fine   --samples-out FILE.idx (unsigned bytes, for outside tools)
            --device cpu|cuda (cuda: the chains run on the GPU; needs a build with CUDA)
  --threads N         worker threads (generate, denoise; default: all cores)
  denoise:  --sigma S (noise std in [-1,1] units, default 0.3, known to the denoiser)
            --method posterior (default): the observation pooled to --start-level (default: one below the
                finest), then at every level up Langevin on E(x) + w/2 |x - y_level|^2 with
                w = min(data-weight * temperature / sigma_level^2, 1 / step size), sigma halving per level down
            --temperature TAU (the prior is exp(-E/TAU); default 0.02, CF-EBM's sampler; 0: the checkpoint's own
                noise / step size)   --data-weight L (default 1)
            --steps T (steps at the finest level, default 6; -1: the model's)
            --sample (sample at temperature TAU instead of the model's noise-decaying chain)   --chains K (averaged)
            --method refine: the old coarse-to-fine chain from --start-level, which forgets the observation
  inpaint:  --completions K (default 6)
  translate: --source-classes LIST (Fashion-MNIST source domain) or --source-images DIR
)";
}  // namespace

int main(int argc, char** argv) {
  if (argc < 2 || std::string(argv[1]) == "help" || std::string(argv[1]) == "--help") {
    std::fputs(usage, stdout);
    return argc < 2 ? 2 : 0;
  }
  const std::string cmd = argv[1];
  try {
    cfx::options o(argc, argv, 2);
    if (cmd == "train") return cfx::cmd_train(o);
    if (cmd == "generate") return cfx::cmd_generate(o);
    if (cmd == "denoise") return cfx::cmd_denoise(o);
    if (cmd == "inpaint") return cfx::cmd_inpaint(o);
    if (cmd == "ood") return cfx::cmd_ood(o);
    if (cmd == "translate") return cfx::cmd_translate(o);
    std::fprintf(stderr, "unknown command '%s'\n\n%s", cmd.c_str(), usage);
    return 2;
  } catch (const std::exception& e) {
    std::fprintf(stderr, "ebm_cf_ebm %s: error: %s\n", cmd.c_str(), e.what());
    return 1;
  }
}
