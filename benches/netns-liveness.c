// What finding dead network namespaces costs at N endpoints (issue 16):
// N stat(2)s of /run/netns/cK (reconcile's way), the same relative to a
// directory descriptor, and the one-read alternatives: /proc/thread-self/
// mountinfo and /proc/thread-self/net/dev (which lists the veths). Run by
// benches/netns-liveness.sh inside a sandbox; prints 5 rounds.
#define _GNU_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static double now_us(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e6 + t.tv_nsec / 1e3;
}

static size_t read_all(const char *path, char *buf, size_t len) {
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    size_t total = 0;
    ssize_t k;
    if (fd < 0) return 0;
    while ((k = read(fd, buf, len)) > 0) total += (size_t)k;
    close(fd);
    return total;
}

int main(int argc, char **argv) {
    int n = argc > 1 ? atoi(argv[1]) : 1000;
    char path[64];
    struct stat st;
    char *buf = malloc(1 << 22);
    if (!buf) return 1;
    for (int round = 0; round < 5; round++) {
        double t0 = now_us();
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "/run/netns/c%d", i);
            stat(path, &st);
        }
        double t1 = now_us();
        int dir = open("/run/netns", O_PATH | O_DIRECTORY | O_CLOEXEC);
        for (int i = 0; i < n; i++) {
            snprintf(path, sizeof path, "c%d", i);
            fstatat(dir, path, &st, 0);
        }
        close(dir);
        double t2 = now_us();
        size_t mi = read_all("/proc/thread-self/mountinfo", buf, 1 << 22);
        double t3 = now_us();
        size_t nd = read_all("/proc/thread-self/net/dev", buf, 1 << 22);
        double t4 = now_us();
        printf("N=%d stat %.0f us, fstatat %.0f us, mountinfo %.0f us (%zu B), net/dev %.0f us (%zu B)\n",
               n, t1 - t0, t2 - t1, t3 - t2, mi, t4 - t3, nd);
    }
    free(buf);
    return 0;
}
