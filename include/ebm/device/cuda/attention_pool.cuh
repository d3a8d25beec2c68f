#pragma once
// Kernels of attention_pool_kernels<cuda> (declared in attention_pool.hpp).
//   rows:    out[n, c] = mul (sum_s w1[n, s] A1[n, c, s] + w2[n, s] A2[n, c, s]) / div,
//            one block per (n, c), a deterministic block reduction;
//   cols:    out[n, s] = sum_c u1[n, c] A1[n, c, s] + u2[n, c] A2[n, c, s],
//            one thread per (n, s), channels in order (as the host);
//   softmax and its tangents: one block per sample;
//   input gradients: elementwise.
// A null w1 reads as 1; null second terms are left out.
#include <cmath>

#include "attention_pool.hpp"
#include "launch.cuh"
#include "reduce.cuh"

namespace ebm {

namespace detail {

template <class T>
__global__ void ap_rows_kernel(const T* A1, const T* w1, const T* A2, const T* w2, T* out,
                               index_t rows, index_t c, index_t s, T mul, T div) {
  EBM_BLOCK_STRIDE_LOOP(row, rows) {
    const index_t n = row / c;
    const T* a1 = A1 + row * s;
    const T* a2 = A2 ? A2 + row * s : nullptr;
    const T* v1 = w1 ? w1 + n * s : nullptr;
    const T* v2 = w2 ? w2 + n * s : nullptr;
    T acc(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) {
      const T t = v1 ? v1[q] * a1[q] : a1[q];
      acc += a2 ? t + v2[q] * a2[q] : t;
    }
    acc = cuda_block_sum(acc);
    if (threadIdx.x == 0) out[row] = mul * acc / div;
  }
}

template <class T>
__global__ void ap_cols_kernel(const T* u1, const T* A1, const T* u2, const T* A2, T* out,
                               index_t n, index_t c, index_t s) {
  EBM_GRID_STRIDE_LOOP(i, n * s) {
    const index_t k = i / s, q = i % s;
    const T* a1 = A1 + k * c * s + q;
    const T* x1 = u1 + k * c;
    T acc(0);
    if (A2) {
      const T* a2 = A2 + k * c * s + q;
      const T* x2 = u2 + k * c;
      for (index_t j = 0; j < c; ++j) acc += x1[j] * a1[j * s] + x2[j] * a2[j * s];
    } else {
      for (index_t j = 0; j < c; ++j) acc += x1[j] * a1[j * s];
    }
    out[i] = acc;
  }
}

/// e [N, S] (overwritten by a): a = softmax_s(r e), max-subtracted.
template <class T>
__global__ void ap_softmax_kernel(T* e, index_t n, index_t s, T r) {
  EBM_BLOCK_STRIDE_LOOP(k, n) {
    T* a = e + k * s;
    T mx[1] = {a[0] * r};
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) mx[0] = cuda_max_op{}(mx[0], a[q] * r);
    cuda_block_reduce(mx, cuda_max_op{});
    T total(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) total += (a[q] = std::exp(a[q] * r - mx[0]));
    total = cuda_block_sum(total);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) a[q] /= total;
  }
}

/// out = a (r v - <a, r v>) per sample ([N, S]; out may alias v); the inner
/// product goes to dot[n] when dot is not null.
template <class T>
__global__ void ap_softmax_tangent_kernel(const T* a, const T* v, T* out, T* dot, index_t n,
                                          index_t s, T r) {
  EBM_BLOCK_STRIDE_LOOP(k, n) {
    const T* ak = a + k * s;
    const T* vk = v + k * s;
    T acc(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) acc += ak[q] * (vk[q] * r);
    acc = cuda_block_sum(acc);
    if (dot && threadIdx.x == 0) dot[k] = acc;
    T* ok = out + k * s;
    for (index_t q = threadIdx.x; q < s; q += blockDim.x) ok[q] = ak[q] * (vk[q] * r - acc);
  }
}

/// dg [N, S] holds dga on entry, dge on exit:
///   dge = da (ga - aga) + a (dga - <da, ga> - <a, dga>).
template <class T>
__global__ void ap_dge_kernel(const T* a, const T* da, const T* ga, const T* aga, T* dg, index_t n,
                              index_t s) {
  EBM_BLOCK_STRIDE_LOOP(k, n) {
    const index_t o = k * s;
    T acc(0);
    for (index_t q = threadIdx.x; q < s; q += blockDim.x)
      acc += da[o + q] * ga[o + q] + a[o + q] * dg[o + q];
    const T daga = cuda_block_sum(acc);
    const T g0 = aga[k];
    for (index_t q = threadIdx.x; q < s; q += blockDim.x)
      dg[o + q] = da[o + q] * (ga[o + q] - g0) + a[o + q] * (dg[o + q] - daga);
  }
}

template <class T>
__global__ void ap_backward_kernel(const T* q, const T* a, const T* gz, const T* ge, const T* gq,
                                   T* gF, index_t n, index_t c, index_t s, T r) {
  EBM_GRID_STRIDE_LOOP(i, n * c * s) {
    const index_t row = i / s, k = row / c, p = k * s + i % s;
    gF[i] = a[p] * gz[row] + r * ge[p] * q[row] + gq[row] / T(s);
  }
}

template <class T>
__global__ void ap_backward_tangent_kernel(const T* q, const T* dq, const T* a, const T* da,
                                           const T* gz, const T* dgz, const T* ge, const T* dge,
                                           const T* dgq, T* dgF, index_t n, index_t c, index_t s,
                                           T r) {
  EBM_GRID_STRIDE_LOOP(i, n * c * s) {
    const index_t row = i / s, k = row / c, p = k * s + i % s;
    dgF[i] = dgz[row] * a[p] + gz[row] * da[p] + r * (dge[p] * q[row] + ge[p] * dq[row]) +
             dgq[row] / T(s);
  }
}

template <class T>
void ap_rows(const cuda& dev, const T* A1, const T* w1, const T* A2, const T* w2, T* out,
             index_t n, index_t c, index_t s, T mul, T div) {
  ap_rows_kernel<<<cuda_item_blocks(n * c), cuda_reduce_threads, 0, dev.stream()>>>(
      A1, w1, A2, w2, out, n * c, c, s, mul, div);
  EBM_CUDA_CHECK_LAUNCH();
}
template <class T>
void ap_cols(const cuda& dev, const T* u1, const T* A1, const T* u2, const T* A2, T* out,
             index_t n, index_t c, index_t s) {
  ap_cols_kernel<<<cuda_blocks(n * s), cuda_threads, 0, dev.stream()>>>(u1, A1, u2, A2, out, n, c,
                                                                         s);
  EBM_CUDA_CHECK_LAUNCH();
}
template <class T>
void ap_softmax_tangent(const cuda& dev, const T* a, const T* v, T* out, T* dot, index_t n,
                        index_t s, T r) {
  ap_softmax_tangent_kernel<<<cuda_item_blocks(n), cuda_reduce_threads, 0, dev.stream()>>>(
      a, v, out, dot, n, s, r);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace detail

template <class T>
void attention_pool_kernels<cuda>::forward(const cuda& dev, const T* F, T* q, T* a, T* z,
                                           index_t n, index_t c, index_t s, T r) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::ap_rows<T>(dev, F, nullptr, nullptr, nullptr, q, n, c, s, T(1), T(s));  // q = mean F
  detail::ap_cols<T>(dev, q, F, nullptr, nullptr, a, n, c, s);                    // e = <q, F_s>
  detail::ap_softmax_kernel<<<detail::cuda_item_blocks(n), detail::cuda_reduce_threads, 0,
                              dev.stream()>>>(a, n, s, r);
  EBM_CUDA_CHECK_LAUNCH();
  detail::ap_rows<T>(dev, F, a, nullptr, nullptr, z, n, c, s, T(1), T(1));  // z = sum a F
}

template <class T>
void attention_pool_kernels<cuda>::forward_tangent(const cuda& dev, const T* F, const T* dF,
                                                   const T* q, const T* a, T* dq, T* da, T* dz,
                                                   index_t n, index_t c, index_t s, T r) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::ap_rows<T>(dev, dF, nullptr, nullptr, nullptr, dq, n, c, s, T(1), T(s));
  detail::ap_cols<T>(dev, dq, F, q, dF, da, n, c, s);          // de / r
  detail::ap_softmax_tangent<T>(dev, a, da, da, nullptr, n, s, r);  // da = a (de - <a, de>)
  detail::ap_rows<T>(dev, dF, a, F, da, dz, n, c, s, T(1), T(1));   // dz = sum a dF + da F
}

template <class T>
void attention_pool_kernels<cuda>::backward_intermediates(const cuda& dev, const T* F, const T* a,
                                                          const T* gz, T* ga, T* ge, T* aga, T* gq,
                                                          index_t n, index_t c, index_t s, T r) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::ap_cols<T>(dev, gz, F, nullptr, nullptr, ga, n, c, s);   // ga = F^T gz
  detail::ap_softmax_tangent<T>(dev, a, ga, ge, aga, n, s, T(1));  // ge = a (ga - <a, ga>)
  detail::ap_rows<T>(dev, F, ge, nullptr, nullptr, gq, n, c, s, r, T(1));  // gq = r sum ge F
}

template <class T>
void attention_pool_kernels<cuda>::backward(const cuda& dev, const T* q, const T* a, const T* gz,
                                            const T* ge, const T* gq, T* gF, index_t n, index_t c,
                                            index_t s, T r) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::ap_backward_kernel<<<detail::cuda_blocks(n * c * s), detail::cuda_threads, 0,
                               dev.stream()>>>(q, a, gz, ge, gq, gF, n, c, s, r);
  EBM_CUDA_CHECK_LAUNCH();
}

template <class T>
void attention_pool_kernels<cuda>::backward_tangent(const cuda& dev, const T* F, const T* dF,
                                                    const T* q, const T* dq, const T* a,
                                                    const T* da, const T* gz, const T* dgz,
                                                    const T* ga, const T* ge, const T* aga, T* dge,
                                                    T* dgq, T* dgF, index_t n, index_t c,
                                                    index_t s, T r) {
  if (n <= 0 || c <= 0 || s <= 0) return;
  detail::cuda_device_guard g(dev.device());
  detail::ap_cols<T>(dev, gz, dF, dgz, F, dge, n, c, s);  // dga = dF^T gz + F^T dgz
  detail::ap_dge_kernel<<<detail::cuda_item_blocks(n), detail::cuda_reduce_threads, 0,
                          dev.stream()>>>(a, da, ga, aga, dge, n, s);
  EBM_CUDA_CHECK_LAUNCH();
  detail::ap_rows<T>(dev, F, dge, dF, ge, dgq, n, c, s, r, T(1));  // dgq = r sum dge F + ge dF
  detail::ap_backward_tangent_kernel<<<detail::cuda_blocks(n * c * s), detail::cuda_threads, 0,
                                       dev.stream()>>>(q, dq, a, da, gz, dgz, ge, dge, dgq, dgF, n,
                                                       c, s, r);
  EBM_CUDA_CHECK_LAUNCH();
}

}  // namespace ebm
