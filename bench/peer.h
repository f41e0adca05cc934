/* A peer process spoken to in lines: bench_train runs the PyTorch side this way, so that
 * the two sides can take turns (one repetition each, in alternation) and so see the same
 * machine load. The peer's stdin and stdout are pipes; its stderr is ours. */
#ifndef TAPEGRAD_BENCH_PEER_H
#define TAPEGRAD_BENCH_PEER_H

#include <stddef.h>
#include <sys/types.h>

typedef struct {
    pid_t pid;          /* 0 when not running */
    void *to, *from;    /* FILE *: our end of its stdin, of its stdout */
} bench_peer;

/* Starts argv[0] (a path, not searched in PATH) with argv. 0 on success, else an errno
 * value (ENOENT: no such program) with p left stopped. */
int bench_peer_start(bench_peer *p, char *const argv[]);

/* Sends one line (printf format, the newline added) and reads the reply line into buf,
 * without its newline. 0 on success, -1 when the peer is gone or the reply was longer
 * than len - 1. */
int bench_peer_ask(bench_peer *p, char *buf, size_t len, const char *fmt, ...)
#if defined(__GNUC__) || defined(__clang__)
    __attribute__((format(printf, 4, 5)))
#endif
    ;

/* Reads one line without sending anything (the peer's greeting); as bench_peer_ask. */
int bench_peer_read(bench_peer *p, char *buf, size_t len);

/* Closes its stdin (the peer then ends) and waits for it. Returns its exit status,
 * or 128 + the signal that ended it, or -1 when it was not running. */
int bench_peer_stop(bench_peer *p);

#endif
