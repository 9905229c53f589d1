/* interp_dense.c: dense and matmul, as sums of products accumulated in double.
 *
 * dense (nn.Linear on the last axis): x [..., K], weight [U, K], bias [U] ->
 *   y[r, u] = bias[u] + sum over k of x[r, k] * weight[u, k], for every row r of x.
 * matmul (numpy.matmul): a [..., M, K] @ b [..., K, P] -> y [..., M, P]; a 1-D a is [1, K]
 * and a 1-D b is [K, 1], the added axis absent from y; the batch dimensions (all but the last
 * two) broadcast as in NumPy. */
#include "interp_internal.h"

bool interp_dense(const Interp *ip) {
    Dims x;
    if (!interp_in_dims(ip, 0, &x))
        return false;
    if (x.rank < 1 || ip->y.rank != x.rank)
        return interp_fail(ip, "needs an input [..., K] and an output of the same rank");
    int64_t K = x.d[x.rank - 1], U = ip->y.d[ip->y.rank - 1];
    int64_t rows = interp_prod(&x, 0, x.rank - 1);
    if (rows * U != ip->y.numel)
        return interp_fail(ip, "output size %lld is not %lld rows of %lld",
                           (long long)ip->y.numel, (long long)rows, (long long)U);
    const float *w, *b, *X = ip->ins[0];
    if (!interp_param(ip, "weight", true, U * K, &w) || !interp_param(ip, "bias", false, U, &b))
        return false;
    for (int64_t r = 0; r < rows; r++)
        for (int64_t u = 0; u < U; u++) {
            double acc = b ? b[u] : 0.0;
            for (int64_t k = 0; k < K; k++)
                acc += (double)X[r * K + k] * w[u * K + k];
            ip->out[r * U + u] = (float)acc;
        }
    return true;
}

typedef struct Mm {
    int64_t M, K, P, nbatch;
    int nb;                            /* batch dimensions of y */
    int64_t astride[MAX_RANK], bstride[MAX_RANK];
} Mm;

/* Operand x's matrices as [batch..., rows, cols]: its batch dimensions alone. */
static Dims batch_of(const Dims *x) {
    Dims b = *x;
    b.rank = x->rank > 2 ? x->rank - 2 : 0;
    return b;
}

static bool mm_plan(const Interp *ip, const Dims *a, const Dims *b, Mm *mm) {
    if (a->rank < 1 || b->rank < 1)
        return interp_fail(ip, "needs operands with at least 1 dimension");
    mm->M = a->rank >= 2 ? a->d[a->rank - 2] : 1;
    mm->K = a->d[a->rank - 1];
    mm->P = b->rank >= 2 ? b->d[b->rank - 1] : 1;
    if (b->d[b->rank >= 2 ? b->rank - 2 : 0] != mm->K)
        return interp_fail(ip, "inner dimensions differ");
    mm->nb = ip->y.rank - (a->rank >= 2) - (b->rank >= 2);
    Dims ba = batch_of(a), bb = batch_of(b);
    if (mm->nb < 0 ||
        !interp_bcast_strides(&ba, ip->y.d, mm->nb, mm->M * mm->K, mm->astride) ||
        !interp_bcast_strides(&bb, ip->y.d, mm->nb, mm->K * mm->P, mm->bstride))
        return interp_fail(ip, "the operands' batch dimensions do not broadcast to the output");
    mm->nbatch = interp_prod(&ip->y, 0, mm->nb);
    if (mm->nbatch * mm->M * mm->P != ip->y.numel)
        return interp_fail(ip, "output size %lld is not batch x M x P", (long long)ip->y.numel);
    return true;
}

/* One [M, K] @ [K, P] product: A and B point at the batch's matrices, Y at its output. */
static void mm_matrix(const Mm *mm, const float *A, const float *B, float *Y) {
    for (int64_t m = 0; m < mm->M; m++)
        for (int64_t p = 0; p < mm->P; p++) {
            double acc = 0.0;
            for (int64_t k = 0; k < mm->K; k++)
                acc += (double)A[m * mm->K + k] * B[k * mm->P + p];
            Y[m * mm->P + p] = (float)acc;
        }
}

bool interp_matmul(const Interp *ip) {
    Dims a, b;
    Mm mm;
    if (!interp_in_dims(ip, 0, &a) || !interp_in_dims(ip, 1, &b) || !mm_plan(ip, &a, &b, &mm))
        return false;
    for (int64_t i = 0; i < mm.nbatch; i++) {
        int64_t rest = i, ao = 0, bo = 0;
        for (int d = mm.nb - 1; d >= 0; d--) {
            int64_t idx = rest % ip->y.d[d];
            rest /= ip->y.d[d];
            ao += idx * mm.astride[d];
            bo += idx * mm.bstride[d];
        }
        mm_matrix(&mm, ip->ins[0] + ao, ip->ins[1] + bo, ip->out + i * mm.M * mm.P);
    }
    return true;
}
