// simulate/cuda/philox.cuh: the counter-based generator of the GPU samplers
// (simulate/gpu.py documents the streams and the reproducibility contract).
// Philox4x32-10 and Box-Muller, written out (no curand_kernel.h), so that the source
// compiles under NVRTC (CuPy) and nvcc alike and a draw does not depend on the thread.
#ifndef SIM_PHILOX_CUH
#define SIM_PHILOX_CUH

typedef unsigned int u32;
typedef unsigned long long u64;

// ---------------------------------------------------------------- Philox4x32-10
// Salmon, Moraes, Dror, Shaw (SC 2011); the constants of Random123 and cuRAND.
struct Words { u32 x, y, z, w; };

__device__ __forceinline__ Words philox4x32_10(Words c, u32 k0, u32 k1)
{
#pragma unroll
    for (int round = 0; round < 10; ++round) {
        const u32 lo0 = 0xD2511F53u * c.x, hi0 = __umulhi(0xD2511F53u, c.x);
        const u32 lo1 = 0xCD9E8D57u * c.z, hi1 = __umulhi(0xCD9E8D57u, c.z);
        Words n;
        n.x = hi1 ^ c.y ^ k0;
        n.y = lo1;
        n.z = hi0 ^ c.w ^ k1;
        n.w = lo0;
        c = n;
        k0 += 0x9E3779B9u;
        k1 += 0xBB67AE85u;
    }
    return c;
}

// A multiple of 2^-53 in [0, 1) from 27 + 26 random bits.
__device__ __forceinline__ double uniform53(u32 a, u32 b)
{
    return ((double)(a >> 5) * 67108864.0 + (double)(b >> 6)) * (1.0 / 9007199254740992.0);
}

// Two independent standard normals (Box-Muller) from the counter (index, layer, purpose, row).
__device__ __forceinline__ void normal2(u32 k0, u32 k1, u32 index, u32 layer, u32 purpose, u32 row,
                                        double* z0, double* z1)
{
    Words c;
    c.x = index;
    c.y = layer;
    c.z = purpose;
    c.w = row;
    const Words r = philox4x32_10(c, k0, k1);
    const double u1 = 1.0 - uniform53(r.x, r.y);  // (0, 1]
    const double u2 = uniform53(r.z, r.w);
    const double radius = sqrt(-2.0 * log(u1));
    double s, co;
    sincospi(2.0 * u2, &s, &co);
    *z0 = radius * co;
    *z1 = radius * s;
}

#endif  // SIM_PHILOX_CUH
