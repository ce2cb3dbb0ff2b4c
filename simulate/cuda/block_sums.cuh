// simulate/cuda/block_sums.cuh: the fixed-order block reduction of the GPU samplers and
// the per-row sums of one layer. Needs SIM_MAX_SUMS (simulate/cuda/samplers.cu) and
// activations.cuh.
#ifndef SIM_BLOCK_SUMS_CUH
#define SIM_BLOCK_SUMS_CUH

// ---------------------------------------------------------------- block sums
// Sum K values over the block in a fixed order (warp shuffles, then warp 0 adds the
// warps in order); every thread gets the totals. blockDim.x: a multiple of 32.
template <int K>
__device__ __forceinline__ void block_sum(double (&v)[K], double (*red)[SIM_MAX_SUMS], double* tot)
{
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const int warps = blockDim.x >> 5;
#pragma unroll
    for (int k = 0; k < K; ++k) {
        double s = v[k];
#pragma unroll
        for (int offset = 16; offset > 0; offset >>= 1) s += __shfl_down_sync(0xffffffffu, s, offset);
        v[k] = s;
    }
    if (lane == 0) {
#pragma unroll
        for (int k = 0; k < K; ++k) red[warp][k] = v[k];
    }
    __syncthreads();
    if (threadIdx.x < K) {
        double s = 0.0;
        for (int w = 0; w < warps; ++w) s += red[w][threadIdx.x];
        tot[threadIdx.x] = s;
    }
    __syncthreads();
#pragma unroll
    for (int k = 0; k < K; ++k) v[k] = tot[k];
}

// Per-row sums of one layer for input 0 (and the Gram sums of both inputs):
// s = {sum h0^2, sum phi'(h0)^2, #zeros of phi(h0), sum f0^2, sum f0 f1, sum f1^2}.
template <int B>
__device__ __forceinline__ void accumulate(const Act& act, double h0, double h1, double* s)
{
    const double f0 = act_phi(act, h0);
    const double d = act_dphi(act, h0);
    s[0] += h0 * h0;
    s[1] += d * d;
    s[2] += f0 == 0.0 ? 1.0 : 0.0;
    s[3] += f0 * f0;
    if (B == 2) {
        const double f1 = act_phi(act, h1);
        s[4] += f0 * f1;
        s[5] += f1 * f1;
    }
}

#endif  // SIM_BLOCK_SUMS_CUH
