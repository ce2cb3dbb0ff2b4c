// gpu/cuda/sparse_gemv.cu: fused sparse GEMV over W^T (n x m row-major); the design,
// the host-side constants and the kernel names are in gpu/gemv.py.
// arXiv 2602.05779, App. F.
#if !defined(SG_BLOCK) || !defined(SG_CHUNK) || !defined(SG_MIN_BLOCKS)
#error "SG_BLOCK, SG_CHUNK and SG_MIN_BLOCKS must be defined by the host (-D)"
#endif
#if SG_BLOCK % 32 != 0 || SG_CHUNK % SG_BLOCK != 0
#error "SG_BLOCK must be a multiple of 32 and SG_CHUNK a multiple of SG_BLOCK"
#endif
#define SG_WARPS (SG_BLOCK / 32)

struct F32  { typedef float storage; };
struct F16  { typedef unsigned short storage; };
struct BF16 { typedef unsigned short storage; };

__device__ __forceinline__ float decode(F16, unsigned short h) {
    float f;
    asm("cvt.f32.f16 %0, %1;" : "=f"(f) : "h"(h));
    return f;
}

__device__ __forceinline__ float decode(BF16, unsigned short h) {
    return __uint_as_float(((unsigned int)h) << 16);
}

// Raw 16-bit words, VEC at a time, as VEC/2 32-bit words (little endian:
// element 2e is the low half of word e).
template <int VEC> struct Words;
template <> struct Words<8> {
    static __device__ __forceinline__ void load(const unsigned short* p, unsigned int* u) {
        const uint4 t = __ldg(reinterpret_cast<const uint4*>(p));
        u[0] = t.x; u[1] = t.y; u[2] = t.z; u[3] = t.w;
    }
};
template <> struct Words<4> {
    static __device__ __forceinline__ void load(const unsigned short* p, unsigned int* u) {
        const uint2 t = __ldg(reinterpret_cast<const uint2*>(p));
        u[0] = t.x; u[1] = t.y;
    }
};
template <> struct Words<2> {
    static __device__ __forceinline__ void load(const unsigned short* p, unsigned int* u) {
        u[0] = __ldg(reinterpret_cast<const unsigned int*>(p));
    }
};

// Loader<Fmt, VEC>::load(p, w): VEC consecutive weights at p, as float.
template <typename Fmt, int VEC> struct Loader {
    static __device__ __forceinline__ void load(const unsigned short* p, float* w) {
        unsigned int u[VEC / 2];
        Words<VEC>::load(p, u);
#pragma unroll
        for (int e = 0; e < VEC / 2; ++e) {
            w[2 * e]     = decode(Fmt(), (unsigned short)(u[e] & 0xffffu));
            w[2 * e + 1] = decode(Fmt(), (unsigned short)(u[e] >> 16));
        }
    }
};
template <typename Fmt> struct Loader<Fmt, 1> {
    static __device__ __forceinline__ void load(const unsigned short* p, float* w) {
        w[0] = decode(Fmt(), __ldg(p));
    }
};
template <> struct Loader<F32, 4> {
    static __device__ __forceinline__ void load(const float* p, float* w) {
        const float4 t = __ldg(reinterpret_cast<const float4*>(p));
        w[0] = t.x; w[1] = t.y; w[2] = t.z; w[3] = t.w;
    }
};
template <> struct Loader<F32, 2> {
    static __device__ __forceinline__ void load(const float* p, float* w) {
        const float2 t = __ldg(reinterpret_cast<const float2*>(p));
        w[0] = t.x; w[1] = t.y;
    }
};
template <> struct Loader<F32, 1> {
    static __device__ __forceinline__ void load(const float* p, float* w) {
        w[0] = __ldg(p);
    }
};

template <int VEC>
__device__ __forceinline__ void axpy(float* acc, float v, const float* w) {
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[e] = fmaf(v, w[e], acc[e]);
}

template <typename Fmt, int VEC>
__device__ __forceinline__ void sparse_gemv_block(
    const typename Fmt::storage* __restrict__ wt,  // n x m, row-major (W^T)
    const float* __restrict__ x,                   // B x n
    float* __restrict__ y,                         // B x m
    float* __restrict__ partial,                   // B x tiles x ksplit x TILE (ksplit > 1)
    unsigned int* __restrict__ tickets,            // B x tiles, zero between launches
    int n, int m, int slice)
{
    constexpr int TILE = 32 * VEC;
    __shared__ int s_idx[SG_CHUNK];
    __shared__ float s_val[SG_CHUNK];
    __shared__ int s_warp_count[SG_WARPS];
    __shared__ float s_red[SG_WARPS][TILE];
    __shared__ bool s_last;

    const int b = blockIdx.x;
    const int k = blockIdx.y;
    const int tile = blockIdx.z;
    const int ksplit = gridDim.y;
    const int tiles = gridDim.z;
    const int lane = threadIdx.x & 31;
    const int warp = threadIdx.x >> 5;
    const unsigned int lanes_below = (1u << lane) - 1u;
    const int col = tile * TILE + lane * VEC;
    const bool col_in_range = col < m;
    const float* __restrict__ xb = x + (size_t)b * n;
    const int j_begin = k * slice;
    const int j_end = min(n, j_begin + slice);

    // 1. Compact the non-zero entries of x[b, j_begin:j_end] (at most SG_CHUNK of
    //    them, guaranteed by the host) in ascending order.  All loads are
    //    issued first: one L2 round trip, not one per round.
    float xv[SG_CHUNK / SG_BLOCK];
#pragma unroll
    for (int p = 0; p < SG_CHUNK / SG_BLOCK; ++p) {
        const int j = j_begin + p * SG_BLOCK + threadIdx.x;
        xv[p] = j < j_end ? __ldg(xb + j) : 0.f;
    }
    int count = 0;
#pragma unroll
    for (int p = 0; p < SG_CHUNK / SG_BLOCK; ++p) {
        if (j_begin + p * SG_BLOCK >= j_end) break;  // uniform across the block
        const int j = j_begin + p * SG_BLOCK + threadIdx.x;
        const bool keep = xv[p] != 0.f;
        const unsigned int ballot = __ballot_sync(0xffffffffu, keep);
        if (lane == 0) s_warp_count[warp] = __popc(ballot);
        __syncthreads();
        int offset = count;
        int total = count;
#pragma unroll
        for (int w = 0; w < SG_WARPS; ++w) {
            const int cw = s_warp_count[w];
            offset += w < warp ? cw : 0;
            total += cw;
        }
        if (keep) {
            const int pos = offset + __popc(ballot & lanes_below);
            s_idx[pos] = j;
            s_val[pos] = xv[p];
        }
        count = total;
        __syncthreads();
    }

    // 2. Accumulate the compacted rows of W^T, four rows in flight per warp.
    float acc[VEC];
#pragma unroll
    for (int e = 0; e < VEC; ++e) acc[e] = 0.f;
    if (col_in_range) {
        const typename Fmt::storage* __restrict__ wc = wt + col;
        int r = warp;
        for (; r + 3 * SG_WARPS < count; r += 4 * SG_WARPS) {
            float w0[VEC], w1[VEC], w2[VEC], w3[VEC];
            Loader<Fmt, VEC>::load(wc + (size_t)s_idx[r] * m, w0);
            Loader<Fmt, VEC>::load(wc + (size_t)s_idx[r + SG_WARPS] * m, w1);
            Loader<Fmt, VEC>::load(wc + (size_t)s_idx[r + 2 * SG_WARPS] * m, w2);
            Loader<Fmt, VEC>::load(wc + (size_t)s_idx[r + 3 * SG_WARPS] * m, w3);
            axpy<VEC>(acc, s_val[r], w0);
            axpy<VEC>(acc, s_val[r + SG_WARPS], w1);
            axpy<VEC>(acc, s_val[r + 2 * SG_WARPS], w2);
            axpy<VEC>(acc, s_val[r + 3 * SG_WARPS], w3);
        }
        for (; r < count; r += SG_WARPS) {
            float w0[VEC];
            Loader<Fmt, VEC>::load(wc + (size_t)s_idx[r] * m, w0);
            axpy<VEC>(acc, s_val[r], w0);
        }
    }

    // 3. Reduce over warps (fixed order), then over the k-split (fixed order).
#pragma unroll
    for (int e = 0; e < VEC; ++e) s_red[warp][lane * VEC + e] = acc[e];
    __syncthreads();
    float* __restrict__ yb = y + (size_t)b * m;
    float* __restrict__ pt = partial + ((size_t)b * tiles + tile) * ksplit * TILE;
    for (int c = threadIdx.x; c < TILE; c += SG_BLOCK) {
        float sum = 0.f;
#pragma unroll
        for (int w = 0; w < SG_WARPS; ++w) sum += s_red[w][c];
        const int i = tile * TILE + c;
        if (ksplit == 1) {
            if (i < m) yb[i] = sum;
        } else {
            pt[k * TILE + c] = sum;
        }
    }
    if (ksplit == 1) return;

    __threadfence();
    __syncthreads();
    if (threadIdx.x == 0) {
        unsigned int* ticket = tickets + (size_t)b * tiles + tile;
        s_last = atomicAdd(ticket, 1u) == (unsigned int)(ksplit - 1);
        if (s_last) *ticket = 0u;  // every block of this (b, tile) has arrived
    }
    __syncthreads();
    if (!s_last) return;
    for (int c = threadIdx.x; c < TILE; c += SG_BLOCK) {
        const int i = tile * TILE + c;
        if (i >= m) continue;
        float sum = 0.f;
        for (int kk = 0; kk < ksplit; ++kk) sum += __ldcg(pt + kk * TILE + c);
        yb[i] = sum;
    }
}

#define SPARSE_GEMV_KERNEL(NAME, FMT, VEC)                                          \
    extern "C" __global__ void __launch_bounds__(SG_BLOCK, SG_MIN_BLOCKS) NAME(     \
        const FMT::storage* __restrict__ wt, const float* __restrict__ x,           \
        float* __restrict__ y, float* __restrict__ partial,                         \
        unsigned int* __restrict__ tickets, int n, int m, int slice)                \
    {                                                                               \
        sparse_gemv_block<FMT, VEC>(wt, x, y, partial, tickets, n, m, slice);       \
    }

SPARSE_GEMV_KERNEL(sparse_gemv_f32_v4, F32, 4)
SPARSE_GEMV_KERNEL(sparse_gemv_f32_v2, F32, 2)
SPARSE_GEMV_KERNEL(sparse_gemv_f32_v1, F32, 1)
SPARSE_GEMV_KERNEL(sparse_gemv_f16_v8, F16, 8)
SPARSE_GEMV_KERNEL(sparse_gemv_f16_v4, F16, 4)
SPARSE_GEMV_KERNEL(sparse_gemv_f16_v2, F16, 2)
SPARSE_GEMV_KERNEL(sparse_gemv_f16_v1, F16, 1)
SPARSE_GEMV_KERNEL(sparse_gemv_bf16_v8, BF16, 8)
SPARSE_GEMV_KERNEL(sparse_gemv_bf16_v4, BF16, 4)
SPARSE_GEMV_KERNEL(sparse_gemv_bf16_v2, BF16, 2)
SPARSE_GEMV_KERNEL(sparse_gemv_bf16_v1, BF16, 1)
