/*
 * test-bad-input.c - bad input gets one clear line and the right exit status:
 * 2 for spec errors (with file:line:col), 1 for what the host reports (an
 * image that does not exist, an isolation this host cannot provide). A
 * missing image is found before anything is created.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <unistd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "itest.h"

static struct itest T;

static void setup(void)
{
    itest_require_host();
    itest_init(&T, "bad");
}

static void teardown(void)
{
    itest_fini(&T);
}

/* Runs `stack up -d` on TEXT and checks the status and that stderr contains WANT. */
static char *up_expect(const char *text, int want_rc, const char *want)
{
    const char *file = itest_write(&T, "stack.yaml", text);
    char *out = NULL, *err = NULL;
    int rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);

    cr_assert_eq(rc, want_rc, "exit status %d, want %d; stderr: %s", rc, want_rc, err);
    cr_assert(strstr(err, want), "stderr does not contain '%s': %s", want, err);
    free(out);
    return err;
}

/* Nothing was created: no container bundles, no pinned namespaces, no network records. */
static void assert_nothing_created(void)
{
    char *left = itest_sh("ls '%s/containers' 2>/dev/null; ls '%s/netns' 2>/dev/null; "
                          "ls '%s/net/conf' 2>/dev/null",
                          T.state_dir, T.run_dir, T.state_dir);
    cr_assert_str_eq(left, "", "something was created: %s", left);
    free(left);
}

Test(bad_input, yaml_syntax_error_exit_2_with_line_col, .init = setup, .fini = teardown)
{
    char *err = up_expect("services:\n  web:\n    image: [busybox\n", 2, "stack.yaml:");
    cr_assert(strstr(err, "stack.yaml:4:") || strstr(err, "stack.yaml:3:"), "no line:col: %s", err);
    free(err);
    assert_nothing_created();
}

Test(bad_input, unknown_key_exit_2, .init = setup, .fini = teardown)
{
    char *err = up_expect("services:\n  web:\n    imagee: busybox\n", 2, "stack.yaml:3:5:");
    cr_assert(strstr(err, "imagee"), "the key is not named: %s", err);
    free(err);
    assert_nothing_created();
}

Test(bad_input, port_not_a_number_exit_2, .init = setup, .fini = teardown)
{
    char *err = up_expect("services:\n  web:\n    image: busybox\n    ports:\n      - \"80a:80\"\n",
                          2, "stack.yaml:5:");
    free(err);
    assert_nothing_created();
}

Test(bad_input, missing_image_exit_1_before_anything_is_created, .init = setup, .fini = teardown)
{
    char text[1024];
    char *err;

    /*
     * The first service's image exists; the second's is not in the store, so
     * up tries to pull it: from a registry on loopback that refuses the
     * connection (tests never reach beyond loopback).
     */
    snprintf(text, sizeof(text),
             "name: %s\nservices:\n  a:\n    image: %s\n    command: [sleep, '100']\n"
             "  b:\n    image: 127.0.0.1:1/no-such-image:1.0\n",
             T.project, itest_image());
    err = up_expect(text, 1, "image '127.0.0.1:1/no-such-image:1.0' not found");
    cr_assert(strstr(err, "'b'"), "the service is not named: %s", err);
    cr_assert(strstr(err, "cannot reach registry '127.0.0.1:1'"), "no pull reason: %s", err);
    free(err);
    assert_nothing_created();
}

/*
 * A host port a host server already listens on: portmap's DNAT would shadow
 * that server silently; up refuses it with exit 1, naming the service and the
 * port, and down removes what the pass created before it.
 */
Test(bad_input, host_port_in_use_exit_1, .init = setup, .fini = teardown)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    char text[1024], want[64];
    char *err, *out = NULL;

    cr_assert(fd >= 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(fd, 1), 0);
    cr_assert_eq(getsockname(fd, (struct sockaddr *)&a, &len), 0);
    snprintf(text, sizeof(text),
             "name: %s\nservices:\n  web:\n    image: %s\n    command: [sleep, '100']\n"
             "    ports: ['%u:80']\n",
             T.project, itest_image(), (unsigned)ntohs(a.sin_port));
    snprintf(want, sizeof(want), "port %u/tcp is already in use on the host",
             (unsigned)ntohs(a.sin_port));
    err = up_expect(text, 1, want);
    cr_assert(strstr(err, "'web'"), "the service is not named: %s", err);
    free(err);
    close(fd);
    cr_assert_eq(itest_stack(&T, &out, &err, "down -f '%s/stack.yaml'", T.dir), 0, "down: %s", err);
    free(out);
    free(err);
    assert_nothing_created();
}

Test(bad_input, hyperv_without_qemu_or_kernel_exit_1, .init = setup, .fini = teardown)
{
    char text[1024];
    char *err;

    /* A host without QEMU: the vm driver's reason, naming the package to install. */
    snprintf(text, sizeof(text),
             "name: %s\nservices:\n  a:\n    image: %s\n    isolation: hyperv\n", T.project,
             itest_image());
    setenv("STACK_VM_QEMU", "/nonexistent/qemu-system-x86_64", 1);
    err = up_expect(text, 1, "isolation 'hyperv' is not available");
    unsetenv("STACK_VM_QEMU");
    cr_assert(strstr(err, "'a'"), "the service is not named: %s", err);
    cr_assert(strstr(err, "apt-get install qemu-system-x86"), "what to install is not said: %s",
              err);
    cr_assert(strchr(err, '\n') == err + strlen(err) - 1, "not one line: %s", err);
    free(err);
    assert_nothing_created();
    /* Nor without the guest kernel. */
    setenv("STACK_VM_KERNEL", "/nonexistent/vmlinuz", 1);
    err = up_expect(text, 1, "apt-get install linux-image-cloud-amd64");
    unsetenv("STACK_VM_KERNEL");
    free(err);
    assert_nothing_created();
}

Test(bad_input, usage_errors_exit_2_with_one_line, .init = setup, .fini = teardown)
{
    char *out = NULL, *err = NULL;
    int rc;

    rc = itest_stack(&T, &out, &err, "up -d --parallel abc -f '%s/none.yaml'", T.dir);
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: --parallel: 'abc' is not a count\n");
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "up -d -f '%s/none.yaml'", T.dir);
    cr_assert_eq(rc, 2, "a missing stack file is a usage error, got %d: %s", rc, err);
    {
        char want[512];
        snprintf(want, sizeof(want),
                 "stack: error: open '%s/none.yaml': No such file or directory\n", T.dir);
        cr_assert_str_eq(err, want);
    }
    free(out);
    free(err);
    /* This session's commands: stop -t, port, and an unknown service. */
    rc = itest_stack(&T, &out, &err, "stop -t abc -p nothing-here");
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: --timeout: 'abc' is not a number of seconds\n");
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "port -p nothing-here web 70000");
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: usage: stack port [-f FILE] [-p NAME] [--index N] "
                          "[--protocol tcp|udp] SERVICE PRIVATE_PORT\n");
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "port --protocol sctp -p nothing-here web 80");
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: --protocol: 'sctp' is not tcp or udp\n");
    free(out);
    free(err);
    /* `config SERVICE` is refused, never silently ignored. */
    rc = itest_stack(&T, &out, &err, "config -f '%s' web",
                     itest_write(&T, "config.yaml", "services:\n  web:\n    image: busybox\n"));
    cr_assert_eq(rc, 2, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: config: unexpected argument 'web' (config [SERVICE...] is "
                          "not supported yet; use --services or --hash SERVICE)\n");
    free(out);
    free(err);
    rc = itest_stack(&T, &out, &err, "start -p nothing-here nosuch");
    cr_assert_eq(rc, 1, "exit status %d: %s", rc, err);
    cr_assert_str_eq(err, "stack: error: start: no such service: nosuch (project 'nothing-here' "
                          "has no container of it)\n");
    free(out);
    free(err);
    assert_nothing_created();
}

/* Issue 12: networks and ports the plug-in would refuse, refused before anything exists. */
Test(bad_input, overlapping_subnets_exit_2_before_anything_is_created, .init = setup,
     .fini = teardown)
{
    char text[1024], *err;

    snprintf(text, sizeof(text),
             "services:\n  web:\n    image: %s\n    networks: [a, b]\n"
             "networks:\n"
             "  a:\n    ipam:\n      config:\n        - subnet: 10.241.0.0/16\n"
             "  b:\n    ipam:\n      config:\n        - subnet: 10.241.7.0/24\n",
             itest_image());
    err =
        up_expect(text, 2, "network 'b': ipam.config subnet '10.241.7.0/24' overlaps network 'a'");
    cr_assert(strstr(err, "stack.yaml:10:"), "no line of network b: %s", err);
    free(err);
    assert_nothing_created();
}

Test(bad_input, static_ip_outside_subnet_exit_2_before_anything_is_created, .init = setup,
     .fini = teardown)
{
    char text[1024], *err;

    snprintf(text, sizeof(text),
             "services:\n  web:\n    image: %s\n    networks:\n      a:\n"
             "        ipv4_address: 10.9.9.9\n"
             "networks:\n"
             "  a:\n    ipam:\n      config:\n        - subnet: 10.241.0.0/24\n",
             itest_image());
    err = up_expect(text, 2,
                    "service 'web': networks.a.ipv4_address is not a host address of subnet "
                    "'10.241.0.0/24'");
    cr_assert(strstr(err, "stack.yaml:"), "no position: %s", err);
    free(err);
    assert_nothing_created();
}

Test(bad_input, port_range_smaller_than_scale_exit_2_before_anything_is_created, .init = setup,
     .fini = teardown)
{
    char text[1024], *err;

    snprintf(text, sizeof(text),
             "services:\n  web:\n    image: %s\n    deploy:\n      replicas: 3\n"
             "    ports: [\"%d-%d:80\"]\n",
             itest_image(), T.port, T.port + 1);
    err = up_expect(text, 2, "service 'web': ports: the host port range");
    cr_assert(strstr(err, "smaller than its 3 replicas") && strstr(err, "stack.yaml:6:"), "%s",
              err);
    free(err);
    assert_nothing_created();
}
