/* cross_model.h: what the cross hosts (host_aarch64.c, m4/main_m4.c) know about the model.
 *
 * Includes the generated header (CROSS_HEADER, default "xc.h": the model is built with
 * --name xc) and the fixed input of cross_input.h, checks the model has one input, one output
 * and one symbol (N), and takes CROSS_ROWS (default 5), CROSS_IN and CROSS_OUT (features per
 * row of the input and the output) from the command line. */
#ifndef CROSS_MODEL_H
#define CROSS_MODEL_H

#include "cross_input.h"
#ifndef CROSS_HEADER
#define CROSS_HEADER "xc.h"
#endif
#include CROSS_HEADER

_Static_assert(xc_NUM_INPUTS == 1 && xc_NUM_OUTPUTS == 1 && xc_NUM_SYMBOLS == 1,
               "the cross hosts take models with one input, one output and one symbol (N)");
#ifndef CROSS_ROWS
#define CROSS_ROWS 5
#endif
#ifndef CROSS_IN
#error "define CROSS_IN, the input's features per row"
#endif
#ifndef CROSS_OUT
#error "define CROSS_OUT, the output's features per row"
#endif

#endif
