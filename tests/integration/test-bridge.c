/*
 * test-bridge.c - the native bridge plug-in (netplugins/bridge/, issue 12)
 * with real containers: isolation between networks, an internal network with
 * no route out, static addresses, ephemeral, host-address and UDP ports,
 * iptables' FORWARD policy at DROP (as Docker leaves it), and a `driver: cni`
 * network that runs its own conflist. Nothing leaves loopback, the
 * containers' networks, or the namespace the test makes ("outside": a veth
 * pair with 10.232.0.1/30 on the host and 10.232.0.2/30 inside, serving a
 * page); every host object is removed on every path, and each test ends with
 * the host snapshot of test-up-down equal to the one taken before its `up`.
 */
#include <arpa/inet.h>
#include <criterion/criterion.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "itest.h"

static struct itest T;
static char outside_ns[64];  /* the test's namespace, "" when not made */
static char outside_pid[32]; /* its page server */
static char forward_policy[16];

static void setup(void)
{
    itest_require_host();
    itest_init(&T, "br");
    outside_ns[0] = outside_pid[0] = forward_policy[0] = 0;
}

static void outside_remove(void)
{
    if (outside_pid[0])
        free(itest_sh("kill %s 2>/dev/null; true", outside_pid));
    if (outside_ns[0])
        free(itest_sh("ip netns del '%s' 2>/dev/null; ip link del 'o%s' 2>/dev/null; true",
                      outside_ns, outside_ns + 4));
    outside_ns[0] = outside_pid[0] = 0;
}

static void teardown(void)
{
    itest_fini(&T);
    outside_remove();
    if (forward_policy[0])
        free(itest_sh("iptables -P FORWARD %s", forward_policy));
}

/* A free port on 127.0.0.1 for TYPE (SOCK_STREAM or SOCK_DGRAM). */
static int free_port(int type)
{
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    int fd = socket(AF_INET, type, 0), port = 0;

    if (fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0 &&
        getsockname(fd, (struct sockaddr *)&a, &len) == 0)
        port = ntohs(a.sin_port);
    if (fd >= 0)
        close(fd);
    return port;
}

/* Makes the "outside" namespace with a page server on 10.232.0.2:8099. */
static void outside_make(void)
{
    char *out;

    snprintf(outside_ns, sizeof(outside_ns), "stkt%d", (int)getpid() % 100000);
    out = itest_sh("set -e; ip netns add '%s'; ip link add 'o%s' type veth peer name eth0 netns "
                   "'%s'; ip addr add 10.232.0.1/30 dev 'o%s'; ip link set 'o%s' up; "
                   "ip -n '%s' addr add 10.232.0.2/30 dev eth0; ip -n '%s' link set eth0 up; "
                   "ip -n '%s' link set lo up; mkdir -p '%s/outside'; "
                   "echo 'hello from outside' > '%s/outside/index.html'; echo ok",
                   outside_ns, outside_ns + 4, outside_ns, outside_ns + 4, outside_ns + 4,
                   outside_ns, outside_ns, outside_ns, T.dir, T.dir);
    cr_assert(out && strstr(out, "ok"), "could not make the outside namespace");
    free(out);
    out = itest_sh("ip netns exec '%s' busybox httpd -f -p 8099 -h '%s/outside' "
                   ">/dev/null 2>&1 & echo $!",
                   outside_ns, T.dir);
    cr_assert(out && atoi(out) > 0, "could not start the outside server");
    snprintf(outside_pid, sizeof(outside_pid), "%d", atoi(out));
    free(out);
}

#define HTTPD                                                                                      \
    "[\"sh\", \"-c\", \"trap 'exit 0' TERM; mkdir -p /www; echo page-of-$$(hostname) > "           \
    "/www/index.html; httpd -f -p 80 -h /www & wait\"]"

/*
 * Runs wget in SERVICE for URL; returns 1 when the page contains WANT. (busybox
 * 1.35's wget -T crashes: the time limit is timeout's.)
 */
static int fetch_from(const char *file, const char *service, const char *url, const char *want)
{
    char *out = NULL, *err = NULL;
    int rc, ok;

    rc = itest_stack(&T, &out, &err, "exec -f '%s' %s timeout 4 wget -q -O - '%s'", file, service,
                     url);
    ok = rc == 0 && out && strstr(out, want);
    free(out);
    free(err);
    return ok;
}

/* As fetch_from(), retried for up to 10 s (a server that is still starting). */
static int fetch_eventually(const char *file, const char *service, const char *url,
                            const char *want)
{
    for (int i = 0; i < 20; i++) {
        if (fetch_from(file, service, url, want))
            return 1;
        usleep(500000);
    }
    return 0;
}

static const char *networks_stack(void)
{
    char text[4096];

    snprintf(text, sizeof(text),
             "name: %s\n"
             "networks:\n"
             "  front:\n"
             "    ipam:\n"
             "      config:\n"
             "        - subnet: 10.231.1.0/24\n"
             "  back:\n"
             "    internal: true\n"
             "    ipam:\n"
             "      config:\n"
             "        - subnet: 10.231.2.0/24\n"
             "services:\n"
             "  a:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    ports: [\"127.0.0.1:%d:80\"]\n"
             "    networks:\n"
             "      front:\n"
             "        ipv4_address: 10.231.1.10\n"
             "  b:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    networks:\n"
             "      back:\n"
             "        ipv4_address: 10.231.2.10\n"
             "  both:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    networks: [front, back]\n",
             T.project, itest_image(), T.port, itest_image(), itest_image());
    return itest_write(&T, "networks.yaml", text);
}

static void up_or_fail(const char *file)
{
    char *out = NULL, *err = NULL;
    int rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);

    cr_assert_eq(rc, 0, "up failed (%d): %s", rc, err);
    free(out);
    free(err);
}

static void down_or_fail(const char *file)
{
    char *out = NULL, *err = NULL;
    int rc = itest_stack(&T, &out, &err, "down -f '%s'", file);

    cr_assert_eq(rc, 0, "down failed (%d): %s", rc, err);
    free(out);
    free(err);
}

static void assert_snapshot_equal(const char *before)
{
    char *after = itest_host_snapshot(&T);

    if (strcmp(before, after) != 0)
        itest_snapshot_diff(before, after);
    cr_assert_str_eq(before, after, "down left something behind");
    free(after);
}

Test(bridge, networks_isolate_internal_has_no_route_out, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const char *file = networks_stack();
    char *before, *out;

    outside_make();
    before = itest_host_snapshot(&T);
    up_or_fail(file);

    /* Static addresses are the ones asked for. */
    cr_assert(fetch_eventually(file, "both", "http://10.231.1.10/", "page-of-"),
              "'both' does not reach 'a' at its static address on 'front'");
    cr_assert(fetch_eventually(file, "both", "http://10.231.2.10/", "page-of-"),
              "'both' does not reach 'b' at its static address on 'back'");
    /* Names resolve on shared networks. */
    cr_assert(fetch_eventually(file, "a", "http://both/", "page-of-"),
              "'a' does not reach 'both' by name");
    /* Isolation: a and b share no network. */
    cr_assert_not(fetch_from(file, "a", "http://10.231.2.10/", "page-of-"),
                  "'a' reaches 'b' across networks");
    cr_assert_not(fetch_from(file, "b", "http://10.231.1.10/", "page-of-"),
                  "'b' reaches 'a' across networks");
    /* A network that is not internal routes out (masquerade); the internal one does not. */
    cr_assert(fetch_eventually(file, "a", "http://10.232.0.2:8099/", "hello from outside"),
              "'a' (front) does not reach the test's outside namespace");
    cr_assert_not(fetch_from(file, "b", "http://10.232.0.2:8099/", "hello from outside"),
                  "'b' (internal) reaches the outside namespace");
    out = NULL;
    itest_stack(&T, &out, NULL, "exec -f '%s' b ip route", file);
    cr_assert(out && !strstr(out, "default"), "the internal network has a default route: %s",
              out ? out : "");
    free(out);
    /* The published port answers on the host's loopback. */
    out = itest_sh("curl -s --max-time 3 http://127.0.0.1:%d/", T.port);
    cr_assert(out && strstr(out, "page-of-"), "published port on 127.0.0.1 does not answer");
    free(out);

    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}

Test(bridge, forward_policy_drop, .init = setup, .fini = teardown, .timeout = 300)
{
    const char *file = networks_stack();
    char *before, *out;

    outside_make();
    out = itest_sh("iptables -S FORWARD 2>/dev/null | awk '$1 == \"-P\" {print $3}'");
    snprintf(forward_policy, sizeof(forward_policy), "%s",
             out && (strncmp(out, "DROP", 4) == 0) ? "DROP" : "ACCEPT");
    free(out);
    free(itest_sh("iptables -P FORWARD DROP"));
    before = itest_host_snapshot(&T);
    up_or_fail(file);

    out = itest_sh("iptables -S FORWARD");
    cr_assert(out && strstr(out, "-P FORWARD DROP"), "the policy is not DROP: %s", out);
    free(out);
    cr_assert(fetch_eventually(file, "a", "http://10.232.0.2:8099/", "hello from outside"),
              "with FORWARD at DROP, 'a' does not reach the outside namespace");
    cr_assert(fetch_eventually(file, "both", "http://10.231.1.10/", "page-of-"),
              "with FORWARD at DROP, 'both' does not reach 'a'");
    out = itest_sh("curl -s --max-time 3 http://127.0.0.1:%d/", T.port);
    cr_assert(out && strstr(out, "page-of-"), "with FORWARD at DROP, the published port is mute");
    free(out);

    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}

Test(bridge, ports_ephemeral_host_ip_and_udp, .init = setup, .fini = teardown, .timeout = 300)
{
    char text[4096], *before, *out = NULL, *err = NULL, *pin, *srv;
    const char *file;
    int udp = free_port(SOCK_DGRAM), eph, rc;

    cr_assert(udp > 0);
    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    ports:\n"
             "      - \"80\"\n"
             "      - \"127.0.0.1:%d:80\"\n"
             "      - \"%d:9999/udp\"\n",
             T.project, itest_image(), T.port, udp);
    file = itest_write(&T, "ports.yaml", text);
    before = itest_host_snapshot(&T);
    up_or_fail(file);

    /* The ephemeral port: the one `stack port` reports answers. */
    rc = itest_stack(&T, &out, &err, "port -f '%s' web 80", file);
    cr_assert_eq(rc, 0, "stack port failed: %s", err);
    cr_assert(out && strrchr(out, ':'), "stack port printed no address: %s", out);
    eph = atoi(strrchr(out, ':') + 1);
    cr_assert(eph > 0 && eph != T.port, "no ephemeral port chosen: %s", out);
    free(out);
    free(err);
    for (int i = 0; i < 20; i++) {
        out = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", eph);
        if (out && strstr(out, "page-of-"))
            break;
        free(out);
        out = NULL;
        usleep(300000);
    }
    cr_assert(out, "the ephemeral port %d does not answer", eph);
    free(out);
    out = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", T.port);
    cr_assert(out && strstr(out, "page-of-"), "the port on 127.0.0.1 does not answer");
    free(out);

    /*
     * UDP: a server in the container's own namespace (busybox has no UDP
     * server) receives a datagram sent to the published port on loopback.
     */
    pin = itest_sh("ls -d '%s'/netns/* | grep -v '\\.' | head -1 | tr -d '\\n'", T.run_dir);
    cr_assert(pin && *pin, "no sandbox pin");
    srv = itest_sh("nsenter --net='%s' python3 -c \"import socket,sys\n"
                   "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                   "s.bind(('0.0.0.0',9999)); s.settimeout(15)\n"
                   "d,a=s.recvfrom(100); open('%s/udp-got','wb').write(d)\" "
                   ">/dev/null 2>&1 & echo $!",
                   pin, T.dir);
    cr_assert(srv && atoi(srv) > 0);
    out = NULL;
    for (int i = 0; i < 30; i++) {
        free(itest_sh("python3 -c \"import socket\n"
                      "s=socket.socket(socket.AF_INET,socket.SOCK_DGRAM)\n"
                      "s.sendto(b'udp-hello',('127.0.0.1',%d))\"",
                      udp));
        usleep(200000);
        out = itest_sh("cat '%s/udp-got' 2>/dev/null", T.dir);
        if (out && strstr(out, "udp-hello"))
            break;
        free(out);
        out = NULL;
    }
    free(itest_sh("kill %d 2>/dev/null; true", atoi(srv)));
    cr_assert(out, "the UDP datagram to 127.0.0.1:%d did not arrive", udp);
    free(out);
    free(srv);
    free(pin);

    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}

Test(bridge, cni_network_by_conflist, .init = setup, .fini = teardown, .timeout = 300)
{
    char conf[2048], text[4096], *before, *out = NULL;
    const char *file, *conflist;

    snprintf(conf, sizeof(conf),
             "{\"cniVersion\": \"1.0.0\", \"name\": \"x\", \"plugins\": [{\"type\": \"bridge\", "
             "\"bridge\": \"stkt%d\", \"isGateway\": true, \"ipMasq\": false, "
             "\"ipam\": {\"type\": \"host-local\", \"dataDir\": \"%s/cni-ipam\", "
             "\"ranges\": [[{\"subnet\": \"10.233.0.0/24\"}]]}}]}",
             (int)getpid() % 100000, T.dir);
    conflist = itest_write(&T, "net.conflist", conf);
    snprintf(text, sizeof(text),
             "name: %s\n"
             "networks:\n"
             "  plugged:\n"
             "    driver: cni\n"
             "    driver_opts:\n"
             "      conflist: %s\n"
             "services:\n"
             "  a:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    networks: [plugged]\n"
             "  b:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    networks: [plugged]\n",
             T.project, conflist, itest_image(), itest_image());
    file = itest_write(&T, "cni.yaml", text);
    before = itest_host_snapshot(&T);
    up_or_fail(file);

    itest_stack(&T, &out, NULL, "exec -f '%s' a ip -4 addr show eth0", file);
    cr_assert(out && strstr(out, "10.233.0."), "'a' has no address of the conflist's range: %s",
              out ? out : "");
    free(out);
    cr_assert(fetch_eventually(file, "a", "http://b/", "page-of-"),
              "'a' does not reach 'b' on the CNI network");

    down_or_fail(file);
    /* The CNI bridge plugin never deletes its bridge; the plug-in's network_remove does. */
    assert_snapshot_equal(before);
    free(before);
}

#define LOOP "[\"sh\", \"-c\", \"trap 'exit 0' TERM; while true; do sleep 1 & wait $$!; done\"]"

static const char *dns_stack(int version)
{
    char text[4096], name[32];

    snprintf(text, sizeof(text),
             "name: %s\n"
             "networks:\n"
             "  front:\n"
             "    ipam:\n"
             "      config:\n"
             "        - subnet: 10.231.5.0/24\n"
             "  other:\n"
             "    ipam:\n"
             "      config:\n"
             "        - subnet: 10.231.6.0/24\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    environment: [VERSION=%d]\n"
             "    deploy:\n"
             "      replicas: 2\n"
             "    networks:\n"
             "      front:\n"
             "        aliases: [www]\n"
             "  client:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    networks: [front]\n"
             "  lonely:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    networks: [other]\n",
             T.project, itest_image(), version, itest_image(), itest_image());
    snprintf(name, sizeof(name), "dns%d.yaml", version);
    return itest_write(&T, name, text);
}

/* `nslookup NAME` in the client (through the responder, not the hosts file); new string. */
static char *lookup(const char *file, const char *name)
{
    char *out = NULL, *err = NULL;
    int rc = itest_stack(&T, &out, &err, "exec -f '%s' client timeout 5 nslookup '%s'", file, name);

    free(err);
    if (rc != 0) {
        free(out);
        return NULL;
    }
    return out;
}

/* How many answers of nslookup's output S (after the server's lines) contain WHAT. */
static size_t count(const char *s, const char *what)
{
    size_t n = 0;

    s = s ? strstr(s, "Name:") : NULL;
    for (const char *p = s; p && (p = strstr(p, what)); p += strlen(what))
        n++;
    return n;
}

Test(bridge, dns_names_aliases_replicas_round_robin_and_recreate, .init = setup, .fini = teardown,
     .timeout = 300)
{
    const char *file = dns_stack(1), *file2;
    char *before, *out, *first = NULL, *again, *conf, *pid1, *pid2;
    char replica[128];
    int rotated = 0;

    before = itest_host_snapshot(&T);
    up_or_fail(file);

    /* The sandbox's resolver is the responder on its network's gateway. */
    itest_stack(&T, &conf, NULL, "exec -f '%s' client cat /etc/resolv.conf", file);
    cr_assert(conf && strstr(conf, "nameserver 10.231.5.1"), "resolv.conf: %s", conf);
    free(conf);

    for (int i = 0; i < 20 && !(out = lookup(file, "web")); i++)
        usleep(250000);
    cr_assert(out, "the service name does not resolve");
    cr_assert_eq(count(out, "10.231.5."), 2, "web's two replicas expected: %s", out);
    free(out);
    out = lookup(file, "www");
    cr_assert(out && count(out, "10.231.5.") == 2, "the alias does not resolve: %s", out);
    free(out);
    snprintf(replica, sizeof(replica), "%s-web-2", T.project);
    out = lookup(file, replica);
    cr_assert(out && count(out, "10.231.5.") == 1, "the replica name does not resolve: %s", out);
    free(out);
    out = lookup(file, "lonely");
    cr_assert(!out || !strstr(out, "10.231.6."), "a name of another network resolves: %s", out);
    free(out);
    /* Round-robin: the first address changes from one query to the next. */
    for (int i = 0; i < 4 && !rotated; i++) {
        out = lookup(file, "web");
        cr_assert(out);
        if (first && strcmp(strstr(first, "Name:"), strstr(out, "Name:")) != 0)
            rotated = 1;
        free(first);
        first = out;
    }
    cr_assert(rotated, "the answers never rotate: %s", first);

    /* web recreated (new addresses); the client keeps running and sees them. */
    itest_stack(&T, &pid1, NULL, "ps -f '%s' | awk '$2 == \"client\" {print $5}'", file);
    file2 = dns_stack(2);
    up_or_fail(file2);
    itest_stack(&T, &pid2, NULL, "ps -f '%s' | awk '$2 == \"client\" {print $5}'", file2);
    cr_assert(pid1 && pid2 && *pid1 && strcmp(pid1, pid2) == 0, "the client was restarted: %s %s",
              pid1, pid2);
    /* The reader's next queries answer the new addresses, and none of the old ones. */
    again = lookup(file2, "web");
    cr_assert(again && count(again, "10.231.5.") == 2, "web does not resolve after recreate: %s",
              again);
    {
        const char *p = strstr(first, "Name:");
        while (p && (p = strstr(p, "Address: "))) {
            char addr[32];

            sscanf(p + 9, "%31s", addr);
            cr_assert_null(strstr(strstr(again, "Name:"), addr),
                           "old address %s still answered: %s", addr, again);
            p += 9;
        }
    }
    free(again);
    free(first);
    free(pid1);
    free(pid2);

    down_or_fail(file2);
    assert_snapshot_equal(before);
    free(before);
}

/* The first of N consecutive TCP ports that are free on 127.0.0.1. */
static int free_range(int n)
{
    for (int base = 31000 + (int)(getpid() % 200) * 20; base < 60000; base += 7) {
        int ok = 1;

        for (int i = 0; i < n && ok; i++) {
            struct sockaddr_in a = {.sin_family = AF_INET,
                                    .sin_port = htons((uint16_t)(base + i)),
                                    .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
            int fd = socket(AF_INET, SOCK_STREAM, 0);

            ok = fd >= 0 && bind(fd, (struct sockaddr *)&a, sizeof(a)) == 0;
            if (fd >= 0)
                close(fd);
        }
        if (ok)
            return base;
    }
    return 0;
}

Test(bridge, port_range_with_scale_gives_each_replica_a_port, .init = setup, .fini = teardown,
     .timeout = 300)
{
    char text[4096], *before, *out = NULL, *err = NULL;
    const char *file;
    int base = free_range(3), rc, seen = 0;

    cr_assert(base > 0);
    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    deploy:\n"
             "      replicas: 3\n"
             "    ports: [\"%d-%d:80\"]\n",
             T.project, itest_image(), base, base + 2);
    file = itest_write(&T, "range.yaml", text);
    before = itest_host_snapshot(&T);
    up_or_fail(file);
    /* Every port of the pool serves a different replica. */
    for (int i = 0; i < 3; i++) {
        char *page = NULL;

        for (int k = 0; k < 20 && !page; k++) {
            page = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", base + i);
            if (page && !strstr(page, "page-of-")) {
                free(page);
                page = NULL;
                usleep(250000);
            }
        }
        cr_assert(page, "port %d of the pool does not answer", base + i);
        seen++;
        free(page);
    }
    cr_assert_eq(seen, 3);
    rc = itest_stack(&T, &out, &err, "ps -f '%s'", file);
    cr_assert_eq(rc, 0);
    for (int i = 0; i < 3; i++) {
        char want[32];

        snprintf(want, sizeof(want), ":%d->80", base + i);
        cr_assert(strstr(out, want), "ps does not show %s: %s", want, out);
    }
    free(out);
    free(err);
    down_or_fail(file);

    /* A pool smaller than the scale: a spec error naming the service, before anything exists. */
    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    deploy:\n"
             "      replicas: 3\n"
             "    ports: [\"%d-%d:80\"]\n",
             T.project, itest_image(), base, base + 1);
    file = itest_write(&T, "small.yaml", text);
    rc = itest_stack(&T, &out, &err, "up -d -f '%s'", file);
    cr_assert_eq(rc, 2, "up with a pool too small did not fail with 2: %d %s", rc, err);
    cr_assert(strstr(err, "service 'web'") && strstr(err, "smaller than its 3 replicas"),
              "error: %s", err);
    free(out);
    free(err);
    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}

Test(bridge, stopped_container_frees_its_port_start_checks_it, .init = setup, .fini = teardown,
     .timeout = 300)
{
    char text[2048], *before, *out = NULL, *err = NULL, *srv, *page = NULL;
    const char *file;
    int rc;

    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "    ports: [\"%d:80\"]\n",
             T.project, itest_image(), T.port);
    file = itest_write(&T, "stop.yaml", text);
    free(itest_sh("mkdir -p '%s/host' && echo host-server > '%s/host/index.html'", T.dir, T.dir));
    before = itest_host_snapshot(&T);
    up_or_fail(file);
    for (int i = 0; i < 20 && !page; i++) {
        page = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", T.port);
        if (page && !strstr(page, "page-of-")) {
            free(page);
            page = NULL;
            usleep(250000);
        }
    }
    cr_assert(page, "the published port does not answer");
    free(page);
    rc = itest_stack(&T, &out, &err, "stop -f '%s' web", file);
    cr_assert_eq(rc, 0, "stop failed: %s", err);
    free(out);
    free(err);

    /* The port is the host's now: a server of its own binds it and answers. */
    srv = itest_sh("python3 -m http.server %d --bind 0.0.0.0 -d '%s/host' >/dev/null 2>&1 & "
                   "echo $!",
                   T.port, T.dir);
    cr_assert(srv && atoi(srv) > 0);
    page = NULL;
    for (int i = 0; i < 40 && !page; i++) {
        page = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", T.port);
        if (page && !strstr(page, "host-server")) {
            free(page);
            page = NULL;
            usleep(250000);
        }
    }
    cr_assert(page, "the host server does not answer on the stopped container's port");
    free(page);

    /* start: the same clear error as at first attach, naming the service and the port. */
    rc = itest_stack(&T, &out, &err, "start -f '%s' web", file);
    {
        char want[32];

        snprintf(want, sizeof(want), "%d/tcp", T.port);
        cr_assert_eq(rc, 1, "start over a host server did not fail with 1: %d %s", rc, err);
        cr_assert(strstr(err, "web") && strstr(err, want) && strstr(err, "already in use"),
                  "the error does not name the service and the port: %s", err);
    }
    free(out);
    free(err);
    free(itest_sh("kill %d; sleep 0.3", atoi(srv)));
    free(srv);

    /* Once the server is gone, start publishes the port again. */
    rc = itest_stack(&T, &out, &err, "start -f '%s' web", file);
    cr_assert_eq(rc, 0, "start after the server left failed: %s", err);
    free(out);
    free(err);
    page = NULL;
    for (int i = 0; i < 20 && !page; i++) {
        page = itest_sh("curl -s --max-time 2 http://127.0.0.1:%d/", T.port);
        if (page && !strstr(page, "page-of-")) {
            free(page);
            page = NULL;
            usleep(250000);
        }
    }
    cr_assert(page, "the port does not answer after start");
    free(page);
    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}

Test(bridge, service_joiner_reaches_loopback_and_none_has_no_network, .init = setup,
     .fini = teardown, .timeout = 300)
{
    char text[2048], *before, *out = NULL;
    const char *file;

    snprintf(text, sizeof(text),
             "name: %s\n"
             "services:\n"
             "  web:\n"
             "    image: %s\n"
             "    command: " HTTPD "\n"
             "  side:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    network_mode: service:web\n"
             "  alone:\n"
             "    image: %s\n"
             "    command: " LOOP "\n"
             "    network_mode: none\n",
             T.project, itest_image(), itest_image(), itest_image());
    file = itest_write(&T, "modes.yaml", text);
    before = itest_host_snapshot(&T);
    up_or_fail(file);
    cr_assert(fetch_eventually(file, "side", "http://127.0.0.1/", "page-of-"),
              "the service:web joiner does not reach web on 127.0.0.1");
    itest_stack(&T, &out, NULL, "exec -f '%s' alone ip -o link", file);
    cr_assert(out && strstr(out, "lo") && !strstr(out, "eth0"),
              "network_mode none has an interface besides lo: %s", out ? out : "");
    free(out);
    down_or_fail(file);
    assert_snapshot_equal(before);
    free(before);
}
