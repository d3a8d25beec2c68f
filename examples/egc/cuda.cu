// The EGC example's --device cuda paths: device.hpp's templates for
// ebm::cuda.  Built only when CUDA is present (examples/CMakeLists.txt).
#include <ebm/device/cuda/cuda.cuh>

#include "device.hpp"

namespace egcx {

namespace {
void require_gpu() {
  if (ebm::cuda::device_count() == 0)
    throw ebm::error("--device cuda: no CUDA device is present (or no driver); run without --device for the CPU");
}
}  // namespace

int train_cuda(const ebm::egc::train_options& t, const ebm::data::image_dataset<float>& data, bool resume,
               int grid_steps) {
  require_gpu();
  return train_on<ebm::cuda>(t, data, resume, grid_steps);
}

sample_result sample_cuda(const fs::path& checkpoint, bool raw, int per_class, int steps, double scale, float eta,
                          ebm::philox& rng) {
  require_gpu();
  return sample_on<ebm::cuda>(checkpoint, raw, ebm::cuda(), per_class, steps, scale, eta, rng);
}

}  // namespace egcx
