/* peer.h: what bench/'s C workers share: the line protocol spoken with bench/driver.py on
 * stdin/stdout, and the model description written by bench/make_models.py (NAME.layers and
 * NAME.params) for the peers that build the network by hand.
 *
 * Protocol: one command a line in, one reply a line out ("ok ..." or "error MESSAGE"):
 *   info                       ok NAME | VERSION | KNOBS       (free text after "ok ")
 *   load MODEL BATCH THREADS   ok KEY=VALUE ...                prepare MODEL for that batch
 *                                                              and thread count
 *   run IN.f32 OUT.f32         ok                              one pass on the raw f32 input,
 *                                                              the output written raw
 *   time CALLS [WARMUP]        ok NS NS ...                    WARMUP untimed passes, then
 *                                                              CALLS passes on the last input,
 *                                                              each timed alone, nanoseconds
 *   quit
 * The driver interleaves the workers' `time` blocks, so the workers never time each other. */
#ifndef BENCH_PEER_H
#define BENCH_PEER_H

#include <stddef.h>

typedef enum {
    L_INPUT, L_DENSE, L_CONV, L_RELU, L_SOFTMAX, L_MAXPOOL, L_FLATTEN, L_SAVE, L_ADD_SAVED
} LayerKind;

/* One line of NAME.layers with the shapes around it, per image (C, H, W; a flat tensor of K
 * values is K, 1, 1 with flat set). */
typedef struct {
    LayerKind kind;
    char name[32];
    int units;            /* dense: units; conv: filters */
    int kernel, padding;  /* conv; maxpool uses kernel as kernel and stride */
    int in_c, in_h, in_w, in_flat;
    int out_c, out_h, out_w, out_flat;
    const float *weight, *bias; /* into PeerModel.params; PyTorch layouts */
} Layer;

#define PEER_MAX_LAYERS 64

typedef struct {
    char name[64];
    int nlayers;
    Layer layers[PEER_MAX_LAYERS];
    float *params;
    size_t in_elems, out_elems; /* per image */
} PeerModel;

/* Reads DIR/NAME.layers and DIR/NAME.params; 0 on success, else -1 with a message in err. */
int peer_model_read(const char *dir, const char *name, PeerModel *m, char *err, size_t errlen);
void peer_model_free(PeerModel *m);

/* A worker: the model set up for a batch and thread count, run on in (batch * in_elems)
 * into out (batch * out_elems). Each function returns 0, or -1 with a message in msg. */
typedef struct {
    const char *(*info)(void);
    int (*load)(const PeerModel *m, int batch, int threads, char *msg, size_t len);
    int (*run)(const float *in, float *out, char *msg, size_t len);
} PeerOps;

/* The protocol loop: argv[1] is the folder with NAME.layers and NAME.params. */
int peer_main(int argc, char **argv, const PeerOps *ops);

/* For workers that do not use PeerModel (nnd): the loop with load taking the model's name;
 * in_elems/out_elems per image are reported back through the pointers. */
typedef struct {
    const char *(*info)(void);
    int (*load)(const char *model, int batch, int threads, size_t *in_elems, size_t *out_elems,
                char *msg, size_t len);
    int (*run)(const float *in, float *out, char *msg, size_t len);
} PeerNamedOps;
int peer_main_named(const PeerNamedOps *ops);

#endif
