/* tapegrad: a reverse-mode autograd tape of registered local derivative rules. */
#ifndef TAPEGRAD_H
#define TAPEGRAD_H

#include "tapegrad/status.h"
#include "tapegrad/tensor.h"
#include "tapegrad/rule.h"
#include "tapegrad/tape.h"
#include "tapegrad/ops.h"
#include "tapegrad/local.h"
#include "tapegrad/gradcheck.h"
#include "tapegrad/pcg32.h"
#include "tapegrad/prob.h"
#include "tapegrad/nn.h"
#include "tapegrad/optim.h"
#include "tapegrad/checkpoint.h"
#include "tapegrad/data.h"
#include "tapegrad/progress.h"
#include "tapegrad/diffusion.h"
#include "tapegrad/threads.h"

#endif
