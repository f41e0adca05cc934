/* bench_peer (peer.h): posix_spawn with two pipes, and line-at-a-time replies. */
#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include "peer.h"

extern char **environ;

int bench_peer_start(bench_peer *p, char *const argv[])
{
    int in[2], out[2], e;
    posix_spawn_file_actions_t fa;
    memset(p, 0, sizeof *p);
    /* a peer that dies must give us an error on write, not kill us */
    signal(SIGPIPE, SIG_IGN);
    if (pipe(in) != 0)
        return errno;
    if (pipe(out) != 0) {
        e = errno;
        close(in[0]), close(in[1]);
        return e;
    }
    posix_spawn_file_actions_init(&fa);
    posix_spawn_file_actions_adddup2(&fa, in[0], 0);
    posix_spawn_file_actions_adddup2(&fa, out[1], 1);
    posix_spawn_file_actions_addclose(&fa, in[1]);
    posix_spawn_file_actions_addclose(&fa, out[0]);
    if (in[0] != 0)   /* the child keeps only its stdin and stdout copies */
        posix_spawn_file_actions_addclose(&fa, in[0]);
    if (out[1] != 1)
        posix_spawn_file_actions_addclose(&fa, out[1]);
    fflush(NULL);
    e = posix_spawn(&p->pid, argv[0], &fa, NULL, argv, environ);
    posix_spawn_file_actions_destroy(&fa);
    close(in[0]);
    close(out[1]);
    if (e == 0) {
        p->to = fdopen(in[1], "w");
        p->from = fdopen(out[0], "r");
        if (p->to && p->from)
            return 0;
        e = errno;
        if (p->to)
            fclose(p->to);
        else
            close(in[1]);
        if (p->from)
            fclose(p->from);
        else
            close(out[0]);
        p->to = p->from = NULL;
        waitpid(p->pid, NULL, 0);
    } else {
        close(in[1]);
        close(out[0]);
    }
    p->pid = 0;
    return e;
}

int bench_peer_read(bench_peer *p, char *buf, size_t len)
{
    size_t n;
    if (!p->from || len < 2 || !fgets(buf, (int)len, p->from))
        return -1;
    n = strlen(buf);
    if (n == 0 || buf[n - 1] != '\n')
        return -1;
    buf[n - 1] = '\0';
    return 0;
}

int bench_peer_ask(bench_peer *p, char *buf, size_t len, const char *fmt, ...)
{
    va_list ap;
    int bad;
    if (!p->to)
        return -1;
    va_start(ap, fmt);
    bad = vfprintf(p->to, fmt, ap) < 0;
    va_end(ap);
    if (bad || fputc('\n', p->to) == EOF || fflush(p->to) != 0)
        return -1;
    return bench_peer_read(p, buf, len);
}

int bench_peer_stop(bench_peer *p)
{
    int st;
    if (!p->pid)
        return -1;
    if (p->to)
        fclose(p->to);
    if (p->from)
        fclose(p->from);
    p->to = p->from = NULL;
    while (waitpid(p->pid, &st, 0) < 0)
        if (errno != EINTR) {
            p->pid = 0;
            return -1;
        }
    p->pid = 0;
    return WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
}
