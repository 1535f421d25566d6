/*
 * A stand-in syslog daemon for tests: binds a datagram socket at PATH,
 * prints every message it receives as one line, and exits after SECONDS
 * of silence.
 * Usage: log_sink PATH SECONDS
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

int
main(int argc, char **argv)
{
    struct sockaddr_un sa = {.sun_family = AF_UNIX};
    struct pollfd pfd;
    char msg[2048];
    ssize_t n;

    if (argc != 3 || strlen(argv[1]) >= sizeof(sa.sun_path)) {
        fprintf(stderr, "usage: log_sink PATH SECONDS\n");
        return 2;
    }
    strcpy(sa.sun_path, argv[1]);
    pfd.fd = socket(AF_UNIX, SOCK_DGRAM, 0);
    pfd.events = POLLIN;
    if (pfd.fd < 0 || bind(pfd.fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
        perror("log_sink");
        return 1;
    }
    /* Ready: the caller may start the program under test. */
    printf("ready\n");
    fflush(stdout);
    while (poll(&pfd, 1, atoi(argv[2]) * 1000) == 1) {
        n = recv(pfd.fd, msg, sizeof(msg) - 1, 0);
        if (n < 0)
            return 1;
        msg[n] = '\0';
        printf("%s\n", msg);
        fflush(stdout);
    }
    return 0;
}
