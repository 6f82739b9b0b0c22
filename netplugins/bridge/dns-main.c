/*
 * dns-main.c - `stack-dns`, the detached DNS responder of the bridge
 * plug-in (net-bridge.h, net__dns_serve()): one process per state dir,
 * started by the plug-in when a network needs it and ending with the last
 * network (the way Podman runs aardvark-dns).
 *
 * Usage: stack-dns STATE_DIR RUN_DIR [--no-forward]
 * Names the responder does not know are forwarded to the host's resolver
 * unless --no-forward is given (the plug-in passes it when the environment
 * of the `stack` that starts the responder has STACK_DNS_FORWARD=0; tests and
 * examples set it, so that nothing is sent to an outside address).
 */
#include <stdio.h>
#include <string.h>

#include "netplugins/bridge/net-bridge.h"

int main(int argc, char **argv)
{
    if (argc < 3 || argc > 4 || (argc == 4 && strcmp(argv[3], "--no-forward") != 0)) {
        fprintf(stderr, "usage: stack-dns STATE_DIR RUN_DIR [--no-forward]\n");
        return 2;
    }
    return net__dns_serve(argv[1], argv[2], argc == 3) < 0 ? 1 : 0;
}
