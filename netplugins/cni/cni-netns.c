/*
 * cni-netns.c - pinned network namespaces, as `ip netns add` makes them
 * (iproute2 ip/ipnetns.c netns_add): an empty file, and a bind mount of the
 * namespace of a task that called unshare(CLONE_NEWNET) onto it. The task is a
 * short-lived thread created for the purpose, so no thread (least of all a
 * reused thread-pool thread) is ever left in the new namespace. These functions
 * block in the kernel and are meant for the libuv thread pool.
 */
#include "netplugins/cni/net-cni.h"

#include <errno.h>
#include <fcntl.h>
#include <linux/magic.h>
#include <pthread.h>
#include <sched.h>
#include <sys/mount.h>
#include <sys/stat.h>
#include <sys/vfs.h>
#include <unistd.h>

#ifndef NSFS_MAGIC
#define NSFS_MAGIC 0x6e736673
#endif

struct netns_job {
    const char *pin;
    int os_err;
    const char *what;
};

static void *netns_thread(void *arg)
{
    struct netns_job *j = arg;

    if (unshare(CLONE_NEWNET) < 0) {
        j->os_err = errno;
        j->what = "unshare(CLONE_NEWNET)";
        return NULL;
    }
    /* /proc/self is the thread group leader; thread-self is this thread's namespace. */
    if (mount("/proc/thread-self/ns/net", j->pin, "none", MS_BIND, NULL) < 0) {
        j->os_err = errno;
        j->what = "bind-mount the namespace";
    }
    return NULL;
}

int net__cni_netns_alive(const char *pin)
{
    struct statfs sf;

    return statfs(pin, &sf) == 0 && sf.f_type == (typeof(sf.f_type))NSFS_MAGIC;
}

int net__cni_netns_pin(const char *pin, struct stk_err *err)
{
    struct netns_job job = {pin, 0, NULL};
    pthread_t th;
    int fd, r;

    if (net__cni_netns_alive(pin))
        return 0;
    fd = open(pin, O_RDONLY | O_CREAT | O_CLOEXEC, 0444);
    if (fd < 0)
        return stk_err_set(err, STK_ENET, errno, "create namespace pin '%s'", pin);
    close(fd);
    r = pthread_create(&th, NULL, netns_thread, &job);
    if (r != 0) {
        unlink(pin);
        return stk_err_set(err, STK_ENET, r, "create namespace pin '%s': start thread", pin);
    }
    pthread_join(th, NULL);
    if (job.os_err) {
        unlink(pin);
        return stk_err_set(err, STK_ENET, job.os_err, "create namespace pin '%s': %s", pin,
                           job.what);
    }
    return 0;
}

int net__cni_netns_unpin(const char *pin, struct stk_err *err)
{
    if (umount2(pin, MNT_DETACH) < 0 && errno != EINVAL && errno != ENOENT)
        return stk_err_set(err, STK_ENET, errno, "unmount namespace pin '%s'", pin);
    if (unlink(pin) < 0 && errno != ENOENT)
        return stk_err_set(err, STK_ENET, errno, "remove namespace pin '%s'", pin);
    return 0;
}
